/**
 * The package as published: `npm pack` holds only what is needed, and that is enough to run
 * sparctl from another folder. (The global install itself, which fetches dependencies from the
 * registry, is a step of .ci/run: tests use no network beyond loopback.)
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/tmp.js';

describe('npm package', () => {
  it('packs only bin/, dist/, README, CHANGELOG and package.json, and the packed files run from any folder', () => {
    const dir = tempDir('sparctl-pack-');
    // dist/ is already built (pretest); --ignore-scripts keeps other tests' binaries untouched.
    const packed = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' });
    expect(packed.status, packed.stderr).toBe(0);
    const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    const paths = info!.files.map((file) => file.path);
    expect(paths).toEqual(expect.arrayContaining(['bin/sparctl.js', 'dist/cli/main.js', 'README.md', 'CHANGELOG.md', 'package.json']));
    expect(paths.filter((path) => !/^(bin|dist)\//.test(path) && !['README.md', 'CHANGELOG.md', 'package.json'].includes(path))).toEqual(
      [],
    );

    // Unpacked with the dependencies beside it (as npm would install them), from another folder.
    const unpacked = join(dir, 'unpacked');
    mkdirSync(unpacked);
    expect(spawnSync('tar', ['-xzf', join(dir, info!.filename), '-C', unpacked]).status).toBe(0);
    symlinkSync(join(ROOT, 'node_modules'), join(unpacked, 'package', 'node_modules'));
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere);
    const home = join(dir, 'home');
    const env = {
      PATH: process.env['PATH'] ?? '',
      HOME: home,
      XDG_CONFIG_HOME: join(home, 'config'),
      XDG_DATA_HOME: join(home, 'data'),
      XDG_STATE_HOME: join(home, 'state'),
      XDG_CACHE_HOME: join(home, 'cache'),
      NO_COLOR: '1',
    };
    const bin = join(unpacked, 'package', 'bin', 'sparctl.js');
    const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: elsewhere, env, encoding: 'utf8' });
    expect(run(['--version']).stdout.trim()).toBe(
      (JSON.parse(spawnSync('cat', [join(ROOT, 'package.json')], { encoding: 'utf8' }).stdout) as { version: string }).version,
    );
    const linked = run([
      'link',
      '--id',
      'PACKED-1',
      '--fa-type',
      'BANK',
      '--bank-name',
      'Example Bank',
      '--bank-code',
      'EXB',
      '--branch-name',
      'Main',
      '--branch-code',
      '0001',
      '--account-number',
      '000123',
    ]);
    expect(linked.status, linked.stderr).toBe(0);
    expect(JSON.parse(run(['resolve', '--id', 'PACKED-1', '-o', 'json']).stdout).results[0].fa.account_number).toBe('000123');
    // Every command's modules are in the package (they load lazily, so --help alone proves little).
    for (const command of [
      ['import-odk', '--help'],
      ['strategy', 'validate', '--id', '9', '--construct', 'a:{account_number}', '--deconstruct', '^a:(?P<account_number>.*)$'],
      ['dfsp', 'list'],
      ['completion', 'bash'],
    ]) {
      const result = run(command);
      expect(result.status, `${command.join(' ')}: ${result.stderr}`).toBe(0);
    }
  }, 60_000);
});
