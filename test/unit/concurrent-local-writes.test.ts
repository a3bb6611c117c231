/**
 * Two writers on one local mapper file: a write planned from a read must not replace a change
 * another connection (another sparctl process) committed after that read. Each test opens the
 * file twice, as two processes would, and lands the other writer's change in the one place no
 * read can see it: between the caller's last read and its update.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { editFa, type FaEditDeps, type Prompter } from '../../src/app/fa-edit.js';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { toBulkRecord } from '../../src/core/bulk/input.js';
import { writeRecords } from '../../src/core/bulk/write-records.js';
import type { Mapper, UpdateItem } from '../../src/core/mapper.js';
import { ReasonCode } from '../../src/core/results.js';
import { bank } from '../helpers/records.js';
import { tempDir } from '../helpers/tmp.js';

const opened: LocalMapper[] = [];
afterEach(async () => {
  for (const mapper of opened.splice(0)) await mapper.close();
});

/** One mapper file, linked B1 → account 0012345678, open on two connections. */
async function twoConnections(): Promise<{ mine: LocalMapper; other: LocalMapper }> {
  const db = join(tempDir(), 'mapper.db');
  const mine = LocalMapper.open(db);
  const other = LocalMapper.open(db);
  opened.push(mine, other);
  await mine.link([{ reference_id: 'r', id: 'B1', fa: bank('0012345678') }], { source: 'test' });
  return { mine, other };
}

/** `mapper`, whose update first lets the other connection commit its own update of the same IDs. */
function racedBy(mapper: LocalMapper, other: LocalMapper, account: string): Mapper {
  return new Proxy(mapper, {
    get(target, key) {
      if (key === 'close') return async () => undefined;
      const value = Reflect.get(target, key, target) as unknown;
      if (key === 'update')
        return async (items: readonly UpdateItem[], context: { source: string }) => {
          await other.update(
            items.map((item) => ({ reference_id: 'other', id: item.id, fa: bank(account) })),
            { source: 'other process' },
          );
          return target.update(items, context);
        };
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as unknown as Mapper;
}

/** fa edit's questions without DFSP data (free text), keeping everything but the account number. */
function answering(account: string): Prompter {
  return {
    select: async (q) => q.default ?? 'BANK',
    input: async (q) => (q.message === 'Account number' ? account : (q.default ?? '')),
    search: async () => {
      throw new Error('no DFSP data: nothing to search');
    },
    confirm: async () => true,
  };
}

function deps(mapper: Mapper, prompter: Prompter): FaEditDeps {
  return {
    openMapper: async () => mapper,
    loadDfsp: async () => undefined,
    prompter,
    say: () => undefined,
    printable: (text) => text,
    user: 'ana',
  };
}

describe('two writers on one local mapper', () => {
  it('fa edit: another process updating the FA after the last read is not overwritten (fa.changed, exit 5, the other change kept)', async () => {
    const { mine, other } = await twoConnections();
    const error = await editFa(deps(racedBy(mine, other, '0099999999'), answering('42')), { id: 'B1' }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'fa.changed',
      exitCode: 5,
      message: `B1's financial address changed in ${mine.target} while you edited it; nothing was changed`,
    });
    expect(other.storedFa('B1')).toMatch(/^account_number:0099999999\./);
    // The other process's update is the only one: the edit wrote nothing.
    expect(mine.auditRows('B1').map((row) => [row.operation, row.source])).toEqual([
      ['link', 'test'],
      ['update', 'other process'],
    ]);
  });

  it('fa edit still updates when nobody else wrote', async () => {
    const { mine, other } = await twoConnections();
    expect(await editFa(deps(mine, answering('42')), { id: 'B1' })).toEqual({ ended: 'updated', id: 'B1', confirmed: false, exitCode: 0 });
    // fa edit closed its connection: read back through the other one.
    expect(other.storedFa('B1')).toMatch(/^account_number:42\./);
  });

  it('a conditional update (onlyIfFa) is kept as kept.changed_since when another process changed the FA after the plan read it', async () => {
    const { mine, other } = await twoConnections();
    const strategies = new Map((await mine.strategies()).map((s) => [s.id, s]));
    const held = mine.storedFa('B1')!;
    const record = toBulkRecord(0, undefined, { id: 'B1', ...bank('42') }, undefined, { mode: 'upsert', strategies });
    if (!record.parsed.ok) throw new Error('record not valid');
    const conditional = { ...record, parsed: { ...record.parsed, value: { ...record.parsed.value, onlyIfFa: held } } };
    const { events } = await writeRecords(racedBy(mine, other, '0099999999'), [conditional], {
      mode: 'upsert',
      context: { source: 'importer' },
      retries: 0,
      strategies,
      faDigest: (fa) => fa,
    });
    expect(events.map((e) => [e.fate, e.code])).toEqual([['unchanged', 'kept.changed_since']]);
    expect(mine.storedFa('B1')).toMatch(/^account_number:0099999999\./);
    expect(mine.auditRows('B1').map((row) => row.source)).toEqual(['test', 'other process']);
  });

  it('the local mapper updates only while the stored FA is the one expected, checked in the update transaction', async () => {
    const { mine, other } = await twoConnections();
    const held = mine.storedFa('B1')!;
    await other.update([{ reference_id: 'o', id: 'B1', fa: bank('0099999999') }], { source: 'other process' });
    const [refused] = await mine.update([{ reference_id: 'r', id: 'B1', fa: bank('42'), expectedFa: held }], { source: 'me' });
    expect(refused).toMatchObject({ status: 'rjct', status_reason_code: ReasonCode.faChangedSinceRead });
    expect(mine.storedFa('B1')).toMatch(/^account_number:0099999999\./);
    const now = mine.storedFa('B1')!;
    const [applied] = await mine.update([{ reference_id: 'r', id: 'B1', fa: bank('42'), expectedFa: now }], { source: 'me' });
    expect(applied).toMatchObject({ status: 'succ' });
    expect(mine.auditRows('B1').map((row) => row.source)).toEqual(['test', 'other process', 'me']);
  });
});
