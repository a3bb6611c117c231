import { describe, expect, it } from 'vitest';
import { notLoadable } from '../../src/adapters/sqlite/retained.js';

/** The errors Node and the bindings package throw, as they throw them (Node 24 loading a Node 20 build). */
const MISMATCH = Object.assign(
  new Error(
    "The module '/usr/lib/node_modules/sparctl/node_modules/better-sqlite3/build/Release/better_sqlite3.node'\nwas compiled against a different Node.js version using\nNODE_MODULE_VERSION 115. This version of Node.js requires\nNODE_MODULE_VERSION 137. Please try re-compiling or re-installing\nthe module (for instance, using `npm rebuild` or `npm install`).",
  ),
  { code: 'ERR_DLOPEN_FAILED' },
);

describe("better-sqlite3's compiled part that cannot be loaded", () => {
  it('is install.sqlite_unloadable (exit 3), naming both module versions and how to reinstall', () => {
    const error = notLoadable(MISMATCH)!;
    expect(error.code).toBe('install.sqlite_unloadable');
    expect(error.exitCode).toBe(3);
    expect(error.message).toBe(
      `sparctl cannot load SQLite (better-sqlite3's compiled part): it was built for another Node.js (module version 115; Node ${process.versions.node} needs 137); nothing was done`,
    );
    expect(error.hint).toContain('npm install -g sparctl');
  });

  it('a library the system refuses, or a build that is missing, is said as such; any other error is not this one', () => {
    const refused = Object.assign(new Error('/x/better_sqlite3.node: invalid ELF header\nmore'), { code: 'ERR_DLOPEN_FAILED' });
    expect(notLoadable(refused)?.message).toContain('the system refused it (/x/better_sqlite3.node: invalid ELF header)');
    expect(notLoadable(new Error('Could not locate the bindings file. Tried:\n → /x/build/better_sqlite3.node'))?.message).toContain(
      'it was never built for this system',
    );
    expect(notLoadable(Object.assign(new Error('unable to open database file'), { code: 'SQLITE_CANTOPEN' }))).toBeUndefined();
    expect(notLoadable('a string')).toBeUndefined();
  });
});
