import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SPAWN_LIMIT, cliEnv } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The config file names the mapper every command acts on: one that other users may change, or
 * replace through its folder, is refused before anything is done (as ssh refuses its config).
 */

const isRoot = process.getuid?.() === 0;

function withConfig(folderMode: number, fileMode: number) {
  const { env } = cliEnv();
  const folder = join(tempDir(), 'conf');
  mkdirSync(folder);
  const config = join(folder, 'config.json');
  // A profile that would send every command to a mapper other than the user's.
  writeFileSync(config, JSON.stringify({ defaultProfile: 'other', profiles: { other: { mode: 'local', db: join(folder, 'other.db') } } }));
  chmodSync(config, fileMode);
  chmodSync(folder, folderMode);
  return { env: { ...env, SPARCTL_CONFIG: config }, config, folder };
}

describe('a config file other users could change', () => {
  it.each([
    [0o755, 0o666, /can be changed by other users \(mode 0666\)/, /chmod go-w/],
    [0o755, 0o620, /can be changed by other users \(mode 0620\)/, /chmod go-w/],
    [0o777, 0o644, /is in a folder other users can write to \(.*conf, mode 0777\), so they can replace it/, /chmod go-w/],
  ])('folder %o, file %o: refused, exit 3, nothing done', async (folderMode, fileMode, why, fix) => {
    const { env, config } = withConfig(folderMode, fileMode);
    const run = await runMain(['resolve', 'X1'], { env });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('config.unsafe');
    expect(run.stderr).toContain(config);
    expect(run.stderr).toMatch(why);
    expect(run.stderr).toMatch(fix);
    expect(run.stderr).toMatch(/could point sparctl at another mapper; nothing was done/);
  });

  it('a folder named as the config file is said to be a folder, not judged by its mode (/tmp is 1777)', async () => {
    const { env } = cliEnv();
    const folder = join(tempDir(), 'shared');
    mkdirSync(folder);
    chmodSync(folder, 0o1777);
    const run = await runMain(['resolve', 'X1'], { env: { ...env, SPARCTL_CONFIG: folder } });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`config.unreadable]: ${folder} is a folder, not a config file`);
    expect(run.stderr).not.toMatch(/config\.unsafe|EISDIR/);
  });

  it('a setuid or sticky bit on a config file others may change is shown in its mode', async () => {
    const { env, config } = withConfig(0o755, 0o1666);
    const run = await runMain(['resolve', 'X1'], { env });
    expect(run.stderr).toContain(`${config} can be changed by other users (mode 1666)`);
  });

  it.each([
    [0o700, 0o600],
    [0o755, 0o644],
    // A sticky folder (as /tmp): others may write to it but not replace a file they do not own.
    [0o1777, 0o644],
  ])('folder %o, file %o: read as usual', async (folderMode, fileMode) => {
    const { env } = withConfig(folderMode, fileMode);
    const run = await runMain(['resolve', 'X1'], { env });
    expect(run.stderr).not.toContain('config.unsafe');
    // The profile is in force: it names a mapper that does not exist, which a read never creates.
    expect(run.stderr).toContain('local.no_mapper');
  });

  it.skipIf(!isRoot)('a config file of another user is refused (as root, for that user could change it)', async () => {
    const { env, config } = withConfig(0o755, 0o644);
    chownSync(config, 65534, 65534);
    const run = await runMain(['resolve', 'X1'], { env });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/belongs to another user \(uid 65534\)/);
  });
});

describe('a config file given as a pipe', () => {
  it('is read, as `SPARCTL_CONFIG=<(…)` gives it (a config that never touches the disk)', async () => {
    const { spawn, execFileSync } = await import('node:child_process');
    const { env } = cliEnv();
    const dir = tempDir();
    const fifo = join(dir, 'config.pipe');
    execFileSync('mkfifo', ['-m', '600', fifo], SPAWN_LIMIT);
    const config = JSON.stringify({ defaultProfile: 'piped', profiles: { piped: { mode: 'local', db: join(dir, 'piped.db') } } });
    // The writer, as a shell's process substitution is: it waits for the reader.
    const writer = spawn('sh', ['-c', `printf '%s' '${config}' > '${fifo}'`], { ...SPAWN_LIMIT, stdio: 'ignore' });
    const shown = await runMain(['config', 'show', '-o', 'json'], { env: { ...env, SPARCTL_CONFIG: fifo } });
    writer.kill();
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ configFile: fifo, target: { location: join(dir, 'piped.db') } });
  });
});

describe('a config file reached through a symbolic link', () => {
  it('is judged by the folder of the file it leads to as well: a link to a file in a folder anyone may write is refused', async () => {
    const { symlinkSync } = await import('node:fs');
    const { env } = cliEnv();
    const dir = tempDir();
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    const real = join(shared, 'config.json');
    writeFileSync(real, JSON.stringify({ defaultProfile: 'other', profiles: { other: { mode: 'local', db: join(shared, 'other.db') } } }));
    chmodSync(real, 0o644);
    chmodSync(shared, 0o777);
    const mine = join(dir, 'mine');
    mkdirSync(mine, { mode: 0o700 });
    symlinkSync(real, join(mine, 'config.json'));
    const run = await runMain(['resolve', 'X1'], { env: { ...env, SPARCTL_CONFIG: join(mine, 'config.json') } });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`is a link to a file in a folder other users can write to (${shared}, mode 0777), so they can replace it`);
  });
});
