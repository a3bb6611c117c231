import { describe, expect, it } from 'vitest';
import { BackRequested, editFa, storedId, type Choice, type FaEditDeps, type Prompter } from '../../src/app/fa-edit.js';
import { shellWord } from '../../src/core/shell-word.js';
import { toBulkRecord } from '../../src/core/bulk/input.js';
import { writeRecords } from '../../src/core/bulk/write-records.js';
import type { Mapper } from '../../src/core/mapper.js';
import type { DfspData } from '../../src/core/mapping.js';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { strict } from '../helpers/strict.js';

const BANK = {
  fa_type: 'BANK',
  bank_name: 'Example Bank',
  bank_code: 'EXB',
  branch_name: 'Main',
  branch_code: '0001',
  account_number: '0012345678',
};

/** A local mapper in memory holding B1 → BANK, which outlives the use case's close; writes are counted. */
async function linkedMapper(
  options: { rejectUpdates?: boolean; id?: string; name?: string } = {},
): Promise<Mapper & { writes: string[]; reallyClose(): Promise<void> }> {
  const store = LocalMapper.open(':memory:');
  const strategies = new Map((await store.strategies()).map((s) => [s.id, s]));
  const linked = { id: options.id ?? 'B1', ...(options.name ? { name: options.name } : {}), ...BANK };
  await writeRecords(store, [toBulkRecord(0, undefined, linked, undefined, { mode: 'link', strategies })], {
    mode: 'link',
    context: { source: 'test' },
    retries: 0,
    strategies,
  });
  const writes: string[] = [];
  return new Proxy(store, {
    get(target, key) {
      if (key === 'close') return async () => undefined;
      if (key === 'reallyClose') return () => target.close();
      if (key === 'writes') return writes;
      const value = Reflect.get(target, key, target) as unknown;
      if (key === 'update' || key === 'link' || key === 'unlink') {
        return (items: readonly { id: string }[], context: { source: string }) => {
          writes.push(`${String(key)} ${items.map((i) => i.id).join(',')} by ${context.source}`);
          if (options.rejectUpdates)
            return Promise.resolve(
              items.map((item, i) => ({
                reference_id: (item as { reference_id?: string }).reference_id ?? String(i),
                id: item.id,
                status: 'rjct',
                status_reason_code: 'rjct.fa.invalid',
                status_reason_message: 'no such bank',
              })),
            );
          return (value as (...args: unknown[]) => unknown).call(target, items, context);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as unknown as Mapper & { writes: string[]; reallyClose(): Promise<void> };
}

type Answer =
  | { select: string }
  /** Tried in turn until one passes the question's check; the refusals are kept. */
  | { input: readonly string[] }
  | { search: string; pick?: (choices: readonly Choice<unknown>[]) => unknown }
  | { confirm: boolean }
  /** Esc: the question rejects with BackRequested. */
  | { back: true };

/** A prompter that gives the scripted answers in order and fails on any question beyond them. */
function scripted(answers: readonly Answer[]): Prompter & { asked: string[]; refused: string[]; offered: string[][]; found: string[][] } {
  const queue = [...answers];
  const asked: string[] = [];
  const refused: string[] = [];
  const offered: string[][] = [];
  const found: string[][] = [];
  const next = <K extends string>(kind: K, message: string): Extract<Answer, Record<K, unknown>> => {
    asked.push(`${kind}: ${message}`);
    const answer = queue.shift();
    if (answer && 'back' in answer) throw new BackRequested();
    if (!answer || !(kind in answer)) throw new Error(`unexpected question: ${kind} "${message}"`);
    return answer as Extract<Answer, Record<K, unknown>>;
  };
  return {
    asked,
    refused,
    offered,
    found,
    select: async (q) => next('select', `${q.message} [${q.default ?? ''}]`).select,
    input: async (q) => {
      for (const attempt of next('input', `${q.message} [${q.default ?? ''}]`).input) {
        const verdict = q.validate(attempt);
        if (verdict === true) return attempt;
        refused.push(verdict);
      }
      throw new Error(`no answer passed "${q.message}"`);
    },
    search: async <T>(q: { message: string; source: (term: string | undefined) => readonly Choice<T>[] }) => {
      const answer = next('search', q.message);
      offered.push(q.source(undefined).map((c) => c.name)); // before anything is typed
      const choices = q.source(answer.search);
      found.push(choices.map((c) => c.name));
      return (answer.pick ? answer.pick(choices) : choices[0]!.value) as T;
    },
    confirm: async (q) => next('confirm', q.message).confirm,
  };
}

function deps(
  mapper: Mapper,
  prompter: Prompter,
  dfsp?: DfspData,
  overrides: Partial<FaEditDeps> = {},
): FaEditDeps & { said: string[]; opened: string[] } {
  const said: string[] = [];
  const opened: string[] = [];
  const base: FaEditDeps = {
    openMapper: async (access) => {
      opened.push(access);
      return mapper;
    },
    loadDfsp: async () => dfsp,
    prompter,
    say: (line) => void said.push(line),
    printable: (text) => text.replace(/\n/g, '\\n'),
    word: shellWord,
    user: 'ana',
  };
  return Object.assign(strict<FaEditDeps>('deps', { ...base, ...overrides }, ['sparctl']), { said, opened });
}

const DFSP: DfspData = {
  banks: [
    { code: 'LBP', name: 'Land Bank' },
    { code: 'EXB', name: 'Example Bank' },
  ],
  branches: [
    { bank_code: 'LBP', code: '0100', name: 'Davao' },
    { bank_code: 'LBP', code: '0200', name: 'Cebu' },
  ],
  wallet_providers: [],
};

/** The answers that type a bank FA without DFSP data: EXB, its branch 0001 Main, and `account`. */
const typedBank = (account: string): Answer[] => [
  { select: 'BANK' },
  { input: ['EXB'] },
  { input: ['Example Bank'] },
  { input: ['0001'] },
  { input: ['Main'] },
  { input: [account] },
];

describe('editFa (use case)', () => {
  it('a plain ID stored in its ID strategy form: found, said, name shown; the current bank kept though the DFSP data lacks it', async () => {
    const stored = 'token:000412345004@nationalId';
    const mapper = await linkedMapper({ id: stored, name: 'Rosa Cruz' });
    const prompter = scripted([{ select: 'BANK' }, { search: 'EXB' }, { search: '' }, { input: ['0012345679'] }, { confirm: true }]);
    const lbpOnly: DfspData = { ...DFSP, banks: DFSP.banks.filter((bank) => bank.code === 'LBP') };
    const d = deps(mapper, prompter, lbpOnly);
    expect(await editFa(d, { id: '000412345004' })).toEqual({
      ended: 'updated',
      id: 'token:000412345004@nationalId',
      confirmed: false,
      exitCode: 0,
    });
    expect(d.said.slice(0, 3)).toEqual([
      `000412345004 is stored as ${stored} (ID strategy 1); editing that beneficiary.`,
      `Financial address of ${stored} (${mapper.target}):`,
      '  name: Rosa Cruz',
    ]);
    expect(prompter.found).toEqual([
      ['EXB  Example Bank  (current; not in the DFSP list)'],
      ['0001  Main  (current; not in the DFSP list)'],
    ]);
    expect(d.said).toContain('* account_number  0012345678 → 0012345679');
    expect(mapper.writes).toEqual([`update ${stored} by sparctl fa edit (user ana)`]);
    await mapper.reallyClose();
  });

  it('a plain ID linked in no form: the advice names the stored form, never a duplicate of a linked one', async () => {
    const mapper = await linkedMapper();
    const d = deps(mapper, strict<Prompter>('prompter', {}));
    await expect(editFa(d, { id: '000412345004' })).rejects.toMatchObject({
      code: 'fa.not_linked',
      message: `000412345004 is not linked in ${mapper.target} (nor as token:000412345004@nationalId); there is no FA to edit`,
      hint: 'link it first, in the form your beneficiaries are stored in: sparctl link --id token:000412345004@nationalId … (or --id 000412345004 …)',
    });
    // The IDs in the suggested command are shell words: one with a space is quoted.
    await expect(editFa(d, { id: '0004 1234' })).rejects.toMatchObject({
      code: 'fa.not_linked',
      hint: expect.stringContaining(`sparctl link --id 'token:0004 1234@nationalId' … (or --id '0004 1234' …)`),
    });
    await mapper.reallyClose();
  });

  it('storedId (the flag form fa edit points at without a terminal): the form found, read-only, closed; fa.not_linked when none', async () => {
    const stored = 'token:0004 1234 5004@nationalId';
    const mapper = await linkedMapper({ id: stored });
    const opened: string[] = [];
    const closes: number[] = [];
    const text = { printable: (value: string) => value, word: shellWord };
    const openMapper = async (access: 'read') => {
      opened.push(access);
      return new Proxy(mapper, {
        get: (target, key) => (key === 'close' ? async () => void closes.push(1) : Reflect.get(target, key, target)),
      });
    };
    expect(await storedId({ openMapper, ...text }, '0004 1234 5004')).toEqual({ id: stored, form: { strategyId: 1 }, faType: 'BANK' });
    expect(await storedId({ openMapper, ...text }, stored)).toEqual({ id: stored, faType: 'BANK' });
    await expect(storedId({ openMapper, ...text }, '0004 9999')).rejects.toMatchObject({
      code: 'fa.not_linked',
      hint: expect.stringContaining(`sparctl link --id 'token:0004 9999@nationalId' … (or --id '0004 9999' …)`),
    });
    expect(opened).toEqual(['read', 'read', 'read']);
    expect(closes).toHaveLength(3);
    expect(mapper.writes).toEqual([]);
    await mapper.reallyClose();
  });

  it('Esc goes back one question: the bank is asked again, and the first answer is forgotten', async () => {
    const mapper = await linkedMapper();
    const prompter = scripted([
      { select: 'BANK' },
      { search: 'LBP' },
      { back: true },
      { search: 'EXB' },
      { search: '' },
      { input: ['0012345678'] },
    ]);
    const d = deps(mapper, prompter, DFSP);
    expect(await editFa(d, { id: 'B1' })).toEqual({ ended: 'unchanged', exitCode: 0 });
    expect(prompter.asked).toEqual([
      'select: FA type [BANK]',
      'search: Bank (type to search)',
      'search: Branch (type to search)',
      'search: Bank (type to search)',
      'search: Branch (type to search)',
      'input: Account number [0012345678]',
    ]);
    expect(mapper.writes).toEqual([]);
    await mapper.reallyClose();
  });

  it('an ID that is not linked: nothing asked, nothing loaded', async () => {
    const mapper = await linkedMapper();
    const d = deps(mapper, strict<Prompter>('prompter', {}), undefined, { loadDfsp: () => Promise.reject(new Error('loaded')) });
    await expect(editFa(d, { id: 'NOBODY' })).rejects.toMatchObject({ code: 'fa.not_linked' });
    expect(d.said).toEqual([]);
    await mapper.reallyClose();
  });

  it('a bank picked from the DFSP data (current first, searched by code or name), its branches only, an account without spaces; confirmed, updated through the pipeline', async () => {
    const mapper = await linkedMapper();
    const prompter = scripted([
      { select: 'BANK' },
      { search: 'land', pick: (choices) => choices.find((c) => c.name.startsWith('LBP'))!.value },
      { search: 'CEB' },
      { input: ['00 99', '0099'] },
      { confirm: true },
    ]);
    const d = deps(mapper, prompter, DFSP);
    const result = await editFa(d, { id: 'B1' });
    expect(result).toEqual({ ended: 'updated', id: 'B1', confirmed: false, exitCode: 0 });
    expect(prompter.asked).toEqual([
      'select: FA type [BANK]',
      'search: Bank (type to search)',
      'search: Branch (type to search)',
      'input: Account number [0012345678]',
      `confirm: Update the financial address of B1 in ${mapper.target}?`,
    ]);
    expect(prompter.offered).toEqual([
      ['EXB  Example Bank', 'LBP  Land Bank'],
      ['0100  Davao', '0200  Cebu'],
    ]);
    expect(prompter.found).toEqual([['LBP  Land Bank'], ['0200  Cebu']]);
    expect(prompter.refused).toEqual(['account_number may not hold spaces']);
    expect(d.said).toContain('Before → after:');
    expect(d.said).toContain('* bank_code       EXB → LBP');
    expect(d.said).toContain('  fa_type         BANK');
    expect(mapper.writes).toEqual(['update B1 by sparctl fa edit (user ana)']);
    await mapper.reallyClose();
  });

  it('a mobile wallet without DFSP data: provider typed, the number normalised with --country; an unusable number asked again', async () => {
    const mapper = await linkedMapper();
    const prompter = scripted([
      { select: 'MOBILE_WALLET' },
      { input: ['PINK'] },
      { input: ['Pink Wallet'] },
      { input: ['call me', '0917 555 0108'] },
      { confirm: true },
    ]);
    const d = deps(mapper, prompter);
    await editFa(d, { id: 'B1', country: 'PH' });
    expect(prompter.asked[1]).toBe('input: Wallet provider code []'); // another type: no default from the bank FA
    expect(prompter.refused).toHaveLength(1);
    expect(prompter.refused[0]).toMatch(/^"call me" /);
    expect(d.said).toContain('* mobile_number         — → +639175550108');
    expect(d.said).toContain('* strategy_id           2 → 4'); // the wallet's default strategy
    expect(d.said).toContain('* bank_code             EXB → —');
    await mapper.reallyClose();
  });

  it('the same answers change nothing: no confirmation, no write', async () => {
    const mapper = await linkedMapper();
    const prompter = scripted(typedBank('0012345678'));
    const result = await editFa(deps(mapper, prompter), { id: 'B1' });
    expect(result).toEqual({ ended: 'unchanged', exitCode: 0 });
    expect(mapper.writes).toEqual([]);
    await mapper.reallyClose();
  });

  it('a dry run opens the mapper read-only and shows before → after without asking to confirm; a no cancels', async () => {
    const mapper = await linkedMapper();
    const answers: Answer[] = [
      { select: 'BANK' },
      { input: ['EXB'] },
      { input: ['Example Bank'] },
      { input: ['0001'] },
      { input: ['Main'] },
      { input: ['42'] },
    ];
    const dry = deps(mapper, scripted(answers));
    expect(await editFa(dry, { id: 'B1', dryRun: true })).toEqual({ ended: 'dry-run', exitCode: 0 });
    expect(dry.opened).toEqual(['dry-run']);
    expect(dry.said).toContain('* account_number  0012345678 → 42');
    const no = deps(mapper, scripted([...answers, { confirm: false }]));
    expect(await editFa(no, { id: 'B1' })).toEqual({ ended: 'cancelled', exitCode: 0 });
    expect(mapper.writes).toEqual([]);
    await mapper.reallyClose();
  });

  it('an FA another admin changed (or unlinked) while the edit waited for its confirmation is never overwritten: fa.changed, exit 5, nothing written', async () => {
    for (const meanwhile of ['update', 'unlink'] as const) {
      const mapper = await linkedMapper();
      const strategies = new Map((await mapper.strategies()).map((s) => [s.id, s]));
      const prompter = scripted(typedBank('42'));
      // The other admin's write lands while this one reads the before → after.
      prompter.confirm = async () => {
        const other = { id: 'B1', ...BANK, account_number: '0099999999' };
        await writeRecords(mapper, [toBulkRecord(0, undefined, other, undefined, { mode: meanwhile, strategies, unlinkConfirmed: true })], {
          mode: meanwhile,
          context: { source: 'other admin' },
          retries: 0,
          strategies,
        });
        return true;
      };
      const error = await editFa(deps(mapper, prompter), { id: 'B1' }).catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: 'fa.changed',
        exitCode: 5,
        message: `B1's financial address ${meanwhile === 'update' ? 'changed' : 'was unlinked'} in ${mapper.target} while you edited it; nothing was changed`,
        hint: 'run fa edit again to see the FA it holds now, and edit that one: sparctl fa edit B1',
      });
      // Only the other admin's write: this edit wrote nothing.
      expect(mapper.writes).toEqual([`${meanwhile} B1 by other admin`]);
      const [now] = await mapper.resolve([{ reference_id: 'r', id: 'B1', scope: 'details' }], { source: 'test' });
      if (meanwhile === 'update') expect(now?.fa).toMatchObject({ account_number: '0099999999' });
      await mapper.reallyClose();
    }
  });

  it('fa.changed on a beneficiary found by its plain national ID: the hint names the stored ID, as a shell word', async () => {
    const stored = 'token:0004 1234 5004@nationalId';
    const mapper = await linkedMapper({ id: stored });
    const strategies = new Map((await mapper.strategies()).map((s) => [s.id, s]));
    const prompter = scripted(typedBank('42'));
    prompter.confirm = async () => {
      const other = { id: stored, ...BANK, account_number: '0099999999' };
      await writeRecords(mapper, [toBulkRecord(0, undefined, other, undefined, { mode: 'update', strategies })], {
        mode: 'update',
        context: { source: 'other admin' },
        retries: 0,
        strategies,
      });
      return true;
    };
    await expect(editFa(deps(mapper, prompter), { id: '0004 1234 5004' })).rejects.toMatchObject({
      code: 'fa.changed',
      hint: `run fa edit again to see the FA it holds now, and edit that one: sparctl fa edit 'token:0004 1234 5004@nationalId'`,
    });
    expect(mapper.writes).toEqual([`update ${stored} by other admin`]);
    await mapper.reallyClose();
  });

  it('an update the mapper rejects ends with its reason and exit 5', async () => {
    const mapper = await linkedMapper({ rejectUpdates: true });
    const prompter = scripted([...typedBank('42'), { confirm: true }]);
    const result = await editFa(deps(mapper, prompter), { id: 'B1' });
    expect(result).toEqual({ ended: 'rejected', reasonCode: 'rjct.fa.invalid', reasonMessage: 'no such bank', exitCode: 5 });
    await mapper.reallyClose();
  });
});
