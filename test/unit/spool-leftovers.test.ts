import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { hostTag } from '../../src/adapters/files/pid-lock.js';
import { seekableInput } from '../../src/adapters/input/spool.js';
import { SPAWN_LIMIT } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Copies of piped input that killed runs left hold a whole input (names, account numbers): the
 * next copy made removes those whose process provably no longer runs, not only day-old ones.
 */

/** A pid that ran and no longer does. */
const deadPid = (): number => spawnSync(process.execPath, ['-e', ''], SPAWN_LIMIT).pid!;

describe('leftover copies of piped input', () => {
  it('the spool: a dead process of this host is removed at once; a live one, another host and an older name wait for the day', async () => {
    const spool = tempDir();
    const dead = `${deadPid()}-${hostTag()}-0123456789ab.input`;
    const live = `${process.ppid}-${hostTag()}-0123456789ab.input`;
    const elsewhere = `${deadPid()}-00000000-0123456789ab.input`;
    const older = `${deadPid()}-0123456789ab.input`;
    for (const name of [dead, live, elsewhere, older]) writeFileSync(join(spool, name), 'id\nB1\n');
    const copy = await seekableInput('-', Readable.from(['id\nB2\n']), spool);
    expect(readdirSync(spool).sort()).toEqual([live, elsewhere, older, copy.path.slice(spool.length + 1)].sort());
    copy.remove();
    expect(existsSync(copy.path)).toBe(false);
  });

  it("a dry run's private folders: one whose copy a dead process left goes, a live process's stays", async () => {
    const tmp = tempDir();
    const [gone, running, other] = ['sparctl-input-aaaaaa', 'sparctl-input-bbbbbb', 'elsewhere'].map((name) => join(tmp, name));
    for (const folder of [gone!, running!, other!]) mkdirSync(folder);
    writeFileSync(join(gone!, `${deadPid()}-${hostTag()}-0123456789ab.input`), 'id\nB1\n');
    writeFileSync(join(running!, `${process.ppid}-${hostTag()}-0123456789ab.input`), 'id\nB1\n');
    writeFileSync(join(other!, `${deadPid()}-${hostTag()}-0123456789ab.input`), 'id\nB1\n');
    const copy = await seekableInput('-', Readable.from(['id\nB2\n']), tmp, true);
    expect(existsSync(gone!)).toBe(false);
    expect(existsSync(running!)).toBe(true);
    expect(existsSync(other!)).toBe(true);
    copy.remove();
    expect(readdirSync(tmp).sort()).toEqual(['elsewhere', 'sparctl-input-bbbbbb']);
  });

  it("a dry run's private folder a day old goes though its pid runs again (reused), or empty (a kill before the copy); younger ones stay", async () => {
    const tmp = tempDir();
    const names = ['sparctl-input-reused', 'sparctl-input-empty', 'sparctl-input-fresh', 'sparctl-input-new-empty'];
    const [reused, empty, fresh, newEmpty] = names.map((name) => join(tmp, name));
    for (const folder of [reused!, empty!, fresh!, newEmpty!]) mkdirSync(folder);
    const copyOf = (folder: string) => join(folder, `${process.ppid}-${hostTag()}-0123456789ab.input`);
    writeFileSync(copyOf(reused!), 'id\nB1\n');
    writeFileSync(copyOf(fresh!), 'id\nB1\n');
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    utimesSync(copyOf(reused!), twoDaysAgo, twoDaysAgo);
    utimesSync(empty!, twoDaysAgo, twoDaysAgo);
    const copy = await seekableInput('-', Readable.from(['id\nB2\n']), tmp, true);
    copy.remove();
    expect(readdirSync(tmp).sort()).toEqual(['sparctl-input-fresh', 'sparctl-input-new-empty']);
  });
});
