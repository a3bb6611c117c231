import { spawn } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, cliEnv, SPAWN_LIMIT } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * sparctl run by a Node.js other than the one better-sqlite3 was built for: a preload makes
 * Node's loader refuse the compiled part exactly as it does then (its error code and message).
 */
function refusingPreload(dir: string): string {
  const path = join(dir, 'refuse-sqlite.cjs');
  writeFileSync(
    path,
    [
      'const load = process.dlopen;',
      'process.dlopen = function (module, filename, ...rest) {',
      "  if (!String(filename).includes('better_sqlite3')) return load.call(this, module, filename, ...rest);",
      "  const error = new Error(`The module '${filename}'\\nwas compiled against a different Node.js version using\\nNODE_MODULE_VERSION 115. This version of Node.js requires\\nNODE_MODULE_VERSION 137. Please try re-compiling or re-installing\\nthe module (for instance, using \\`npm rebuild\\` or \\`npm install\\`).`);",
      "  error.code = 'ERR_DLOPEN_FAILED';",
      '  throw error;',
      '};',
      '',
    ].join('\n'),
  );
  return path;
}

function run(args: string[], cwd: string, preload: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['-r', preload, BIN, ...args], { ...SPAWN_LIMIT, cwd, env: cliEnv().env });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdout.resume();
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stderr })));
}

describe('SQLite that this Node.js cannot load', () => {
  it('is one line, install.sqlite_unloadable (exit 3), and no database or journal file is left behind', async () => {
    const dir = tempDir();
    const preload = refusingPreload(dir);
    const expected =
      "sparctl: error [install.sqlite_unloadable]: sparctl cannot load SQLite (better-sqlite3's compiled part): it was built for another Node.js (module version 115; Node " +
      `${process.versions.node} needs 137); nothing was done (reinstall sparctl with the Node.js that runs it (npm install -g sparctl), or run "npm rebuild better-sqlite3" in the folder it is installed in)\n`;
    const init = await run(['init', '--db', 'mapper.db'], dir, preload);
    expect(init.code, init.stderr).toBe(3);
    expect(init.stderr.replace(/^→ .*\n/, '')).toBe(expected);
    writeFileSync(join(dir, 'a.csv'), 'id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number\nA1,BANK,B,LBP,M,1,1\n');
    const link = await run(['--db', 'new.db', '--create', 'link', '--file', 'a.csv'], dir, preload);
    expect(link.code, link.stderr).toBe(3);
    expect(link.stderr.replace(/^→ .*\n/, '')).toBe(expected);
    expect(existsSync(join(dir, 'mapper.db'))).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['a.csv', 'refuse-sqlite.cjs']);
  });
});
