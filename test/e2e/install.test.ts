/**
 * The package as an operator installs it: `npm pack`, then `npm install -g` of the tarball into
 * a temp prefix, then `sparctl` run from another folder. Offline: everything comes from the npm
 * cache `npm ci` filled, and better-sqlite3 is compiled from source as in `npm ci`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/tmp.js';

const npm = (args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) => spawnSync('npm', args, { cwd, env, encoding: 'utf8', maxBuffer: 1 << 26 });

describe('npm package', () => {
  it('packs only what is needed, installs globally from the tarball, and runs from any folder', () => {
    const dir = tempDir('sparctl-install-');
    // dist/ is already built (pretest); --ignore-scripts keeps other tests' binaries untouched.
    const packed = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT);
    expect(packed.status, packed.stderr).toBe(0);
    const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    const paths = info!.files.map((file) => file.path);
    expect(paths).toEqual(expect.arrayContaining(['bin/sparctl.js', 'dist/cli/main.js', 'README.md', 'CHANGELOG.md', 'package.json']));
    expect(paths.filter((path) => !/^(bin|dist)\//.test(path) && !['README.md', 'CHANGELOG.md', 'package.json'].includes(path))).toEqual([]);
    expect(paths.some((path) => path.endsWith('.test.js') || path.startsWith('src/') || path.startsWith('test/'))).toBe(false);

    const prefix = join(dir, 'prefix');
    const installed = npm(['install', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, join(dir, info!.filename)], dir, { ...process.env, npm_config_build_from_source: 'true' });
    expect(installed.status, installed.stderr.slice(-3000)).toBe(0);
    const bin = join(prefix, 'bin', 'sparctl');
    expect(existsSync(bin)).toBe(true);

    const elsewhere = join(dir, 'somewhere-else');
    mkdirSync(elsewhere);
    const home = join(dir, 'home');
    const env = { PATH: process.env['PATH'] ?? '', HOME: home, XDG_CONFIG_HOME: join(home, 'config'), XDG_DATA_HOME: join(home, 'data'), XDG_STATE_HOME: join(home, 'state'), XDG_CACHE_HOME: join(home, 'cache'), NO_COLOR: '1' };
    const version = spawnSync(bin, ['--version'], { cwd: elsewhere, env, encoding: 'utf8' });
    expect(version.stdout.trim()).toBe('0.1.0');
    const linked = spawnSync(bin, ['link', '--id', 'INSTALLED-1', '--fa-type', 'BANK', '--bank-name', 'Example Bank', '--bank-code', 'EXB', '--branch-name', 'Main', '--branch-code', '0001', '--account-number', '000123'], { cwd: elsewhere, env, encoding: 'utf8' });
    expect(linked.status, linked.stderr).toBe(0);
    const resolved = spawnSync(bin, ['resolve', '--id', 'INSTALLED-1', '-o', 'json'], { cwd: elsewhere, env, encoding: 'utf8' });
    expect(JSON.parse(resolved.stdout).results[0].fa.account_number).toBe('000123');
    expect(readdirSync(join(home, 'data', 'sparctl'))).toContain('mapper.db');
  }, 300_000);
});
