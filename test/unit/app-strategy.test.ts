import { describe, expect, it } from 'vitest';
import { addStrategies, exportStrategyText, listStrategies, validateStrategies, type StrategyDeps } from '../../src/app/strategy.js';
import type { Mapper } from '../../src/core/mapper.js';
import { DEFAULT_STRATEGIES, type StrategyRow } from '../../src/core/strategy/strategy.js';
import { strict } from '../helpers/strict.js';

/** A mapper that knows SPAR's default strategies (in reverse, to see them sorted); it records being closed. */
function fakeMapper(log: string[]): Mapper {
  return strict<Mapper>('mapper', {
    target: 'local /x.db',
    strategies: async () => (log.push('strategies'), [...DEFAULT_STRATEGIES].reverse()),
    close: async () => void log.push('close'),
  });
}

/** Deps that record what the use case said and did, in order; anything not given throws. */
function deps(given: Partial<StrategyDeps>): StrategyDeps & { log: string[] } {
  const log: string[] = [];
  return Object.assign(
    strict<StrategyDeps>('deps', { say: (line) => log.push(`say ${line}`), note: (line) => log.push(`note ${line}`), ...given }),
    { log },
  );
}

const SAFE = {
  id: '7',
  construct: 'bank:{bank_code}|account:{account_number}',
  deconstruct: '^bank:(?P<bank_code>[^|]*)\\|account:(?P<account_number>.*)$',
};
/** Has no group for {bank_code}, and a regex that can take exponential time: two errors. */
const UNSAFE = { id: '21', construct: '{bank_code}:{account_number}', deconstruct: '^(?P<account_number>(?:\\w+)+)$' };

describe('strategy (use cases)', () => {
  it("list: the target's strategies by id, the mapper closed; a remote target says they are what sparctl knows", async () => {
    const d = deps({ openMapper: async () => fakeMapper(d.log), isRemote: async () => true });
    const { rows, target } = await listStrategies(d);
    expect(rows.map((r) => r.id)).toEqual([1, 2, 3, 4, 5]);
    expect(Object.keys(rows[0]!).sort()).toEqual([
      'active',
      'construct_strategy',
      'deconstruct_strategy',
      'description',
      'id',
      'strategy_type',
    ]);
    expect(target).toBe('local /x.db');
    expect(d.log).toEqual([
      'strategies',
      'close',
      "note SPAR has no API to list strategies: these are SPAR's built-in ones and the ones the profile declares (strategiesFile, strategies) for local /x.db",
    ]);
  });

  it('validate: a definition by flags needs no settings and no mapper; an unsafe one is named with its counts', async () => {
    const safe = await validateStrategies(deps({}), { ids: [], definition: SAFE, strict: false });
    expect(safe.unsafe).toBeUndefined();
    expect(safe.reports.map((r) => [r.strategy.id, r.strategy.strategy_type, r.ok])).toEqual([[7, 'FA', true]]);
    const unsafe = await validateStrategies(deps({}), { ids: [], definition: UNSAFE, strict: false });
    expect(unsafe.unsafe).toBe('strategy 21 is not safe: 2 errors');
  });

  it("validate: ids pick the target's strategies in the order given, each once; an unknown id is refused; ids and a definition together are refused", async () => {
    const d = deps({ openMapper: async () => fakeMapper(d.log) });
    const { reports } = await validateStrategies(d, { ids: ['3', '1', '3'], definition: {}, strict: false });
    expect(reports.map((r) => r.strategy.id)).toEqual([3, 1]);
    await expect(validateStrategies(d, { ids: ['9'], definition: {}, strict: false })).rejects.toMatchObject({
      code: 'strategy.unknown',
      message: 'strategy 9 is not known to this profile (known: 1, 2, 3, 4, 5)',
    });
    await expect(validateStrategies(d, { ids: ['x'], definition: {}, strict: false })).rejects.toMatchObject({ code: 'strategy.unknown' });
    await expect(validateStrategies(deps({}), { ids: ['1'], definition: SAFE, strict: false })).rejects.toMatchObject({
      code: 'usage.strategy_ids',
    });
  });

  it('a definition file: JSON or YAML by its first character, a BOM ignored; --file and flags together, a missing or empty file, bad JSON are refused', async () => {
    const files: Record<string, string> = {
      'a.json': `\uFEFF[{"id": 7, "strategy_type": "FA", "construct_strategy": "${SAFE.construct}", "deconstruct_strategy": ${JSON.stringify(SAFE.deconstruct)}}]`,
      'a.yaml': `id: 7\nstrategy_type: FA\nconstruct_strategy: "${SAFE.construct}"\ndeconstruct_strategy: '${SAFE.deconstruct}'\n`,
      'empty.yaml': ' \n',
      'bad.json': '{"id": ',
    };
    const readFile = async (file: string) => files[file] ?? Promise.reject(Object.assign(new Error(`ENOENT: ${file}`), { code: 'ENOENT' }));
    const validate = (definition: object) => validateStrategies(deps({ readFile }), { ids: [], definition, strict: false });
    for (const file of ['a.json', 'a.yaml'])
      expect(
        (await validate({ file })).reports.map((r) => r.strategy.id),
        file,
      ).toEqual([7]);
    await expect(validate({ file: 'a.json', id: '7' })).rejects.toMatchObject({ code: 'usage.strategy_both' });
    await expect(validate({ file: 'nope.json' })).rejects.toMatchObject({
      code: 'usage.unreadable',
      message: '--file nope.json: no such file',
    });
    await expect(validate({ file: 'empty.yaml' })).rejects.toMatchObject({
      code: 'strategy.invalid',
      message: 'empty.yaml: the file is empty',
    });
    await expect(validate({ file: 'bad.json' })).rejects.toMatchObject({
      code: 'strategy.invalid',
      message: expect.stringMatching(/^bad\.json: not valid JSON/),
    });
  });

  it("add on a remote target: appended to the profile's file, never to a mapper; the SQL has the given rows, the Helm values every known one", async () => {
    const d = deps({
      isRemote: async () => true,
      announceTarget: async () => void d.log.push('target'),
      addToProfile: async (rows, dryRun) => (
        d.log.push(`profile ${rows.map((r) => r.id).join(',')} ${dryRun}`),
        {
          target: 'remote spar-v2 http://x',
          results: [{ id: 7, outcome: 'added' }],
          file: '/c/strategies.json',
          created: true,
          known: [...DEFAULT_STRATEGIES, { ...DEFAULT_STRATEGIES[1]!, id: 7 }],
        }
      ),
    });
    const added = await addStrategies(d, { definition: SAFE, strict: false, dryRun: false });
    expect(d.log.filter((line) => !line.startsWith('note '))).toEqual(['target', 'profile 7 false']);
    expect(added.profile).toMatchObject({ file: '/c/strategies.json', created: true });
    expect(added.profile!.sql.match(/^VALUES \((\d+),/gm)).toEqual(['VALUES (7,']);
    expect(added.profile!.helm.match(/^ {4}- id: (\d+)$/gm)).toEqual([1, 2, 3, 4, 5, 7].map((id) => `    - id: ${id}`));
  });

  it('add: the target is said before the findings; an unsafe strategy refuses the whole definition and writes nothing', async () => {
    const d = deps({ isRemote: async () => false, announceTarget: async () => void d.log.push('target') });
    await expect(addStrategies(d, { definition: UNSAFE, strict: false, dryRun: false })).rejects.toMatchObject({
      code: 'strategy.unsafe',
      message: 'strategy 21 is not safe (2 errors); nothing was added',
    });
    expect(d.log[0]).toBe('target');
    expect(d.log.slice(1).length).toBeGreaterThan(0);
    expect(d.log.slice(1).every((line) => line.startsWith('say error: strategy 21: '))).toBe(true);
  });

  it("add: a safe strategy's warnings are notes (left out with -q), it is appended with the dry run flag, and the outcome comes back", async () => {
    const added: [readonly StrategyRow[], boolean][] = [];
    const d = deps({
      isRemote: async () => false,
      announceTarget: async () => void d.log.push('target'),
      addToMapper: async (rows, dryRun) => (
        added.push([rows, dryRun]), { target: 'local /x.db', results: [{ id: 7, outcome: 'unchanged' }] }
      ),
    });
    const result = await addStrategies(d, { definition: SAFE, strict: false, dryRun: true }); // safe, with 3 warnings
    expect(d.log[0]).toBe('target');
    expect(d.log.length).toBeGreaterThan(1);
    expect(d.log.slice(1).every((line) => line.startsWith('note warning: strategy 7: '))).toBe(true);
    expect(added.map(([rows, dryRun]) => [rows.map((r) => r.id), dryRun])).toEqual([[[7], true]]);
    expect(result).toMatchObject({ target: 'local /x.db', dryRun: true, results: [{ id: 7, outcome: 'unchanged' }] });
  });

  it('add: no definition is refused; --strict makes warnings refuse', async () => {
    await expect(
      addStrategies(deps({ isRemote: async () => false }), { definition: {}, strict: false, dryRun: false }),
    ).rejects.toMatchObject({ code: 'usage.strategy_missing' });
    const d = deps({ isRemote: async () => false, announceTarget: async () => undefined });
    await expect(addStrategies(d, { definition: SAFE, strict: true, dryRun: false })).rejects.toMatchObject({
      code: 'strategy.unsafe',
      message: 'strategy 7 is not safe (3 warnings, with --strict); nothing was added',
    });
  });

  it("export: the target's strategies, or a definition's once it is safe; an unsafe definition exports nothing", async () => {
    const d = deps({ openMapper: async () => fakeMapper(d.log) });
    const all = JSON.parse(await exportStrategyText(d, { ids: ['2'], definition: {}, format: 'json' })) as { id: number }[];
    expect(all.map((r) => r.id)).toEqual([2]);
    const given = JSON.parse(await exportStrategyText(deps({}), { ids: [], definition: SAFE, format: 'json' })) as { id: number }[];
    expect(given.map((r) => r.id)).toEqual([7]);
    await expect(exportStrategyText(deps({}), { ids: [], definition: UNSAFE, format: 'sql' })).rejects.toMatchObject({
      code: 'strategy.unsafe',
      message: expect.stringMatching(/nothing was exported$/),
    });
    await expect(exportStrategyText(deps({}), { ids: ['1'], definition: SAFE, format: 'sql' })).rejects.toMatchObject({
      code: 'usage.strategy_ids',
    });
  });
});
