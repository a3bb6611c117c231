import { KEPT_CHANGED } from '../core/bulk/plan.js';
import { writeRecords } from '../core/bulk/write-records.js';
import { ExitCode, SparctlError, UsageError } from '../core/errors.js';
import { faChanges, faFromAnswers, idForms, type FaAnswers } from '../core/fa-edit.js';
import { SAME_ROW, type Mapper } from '../core/mapper.js';
import { normalizePhone, type DfspData } from '../core/mapping.js';
import { DEFAULT_STRATEGY_FOR, EMAIL, FA_TYPES, NO_CONTROL_CHARS, type FaType, type FinancialAddress } from '../core/model.js';
import { checkStrategy, parseIdRecord } from '../core/request-items.js';
import { classifyResult, type ItemResult } from '../core/results.js';

/**
 * `fa edit`: an admin fixes one beneficiary's FA at a terminal. Resolve the ID, show its FA,
 * ask for the new one step by step (DFSP data to pick from when the target has it, each answer
 * checked as typed), check it against its strategy, show before → after, confirm, update
 * through the write pipeline. The questions come from a `Prompter` so the flow runs without a
 * terminal in tests. The questions are steps of a small state machine: a question answered with
 * BackRequested asks the previous one again. A plain ID that is not linked is also looked for in
 * the forms the target's ID strategies build from it (`token:…@nationalId`).
 */

export interface Choice<T> {
  readonly value: T;
  readonly name: string;
}

/**
 * What a question rejects with when the admin asks to go back one question (Esc at a terminal).
 * Any other rejection (Ctrl-C) ends the edit with nothing written.
 */
export class BackRequested extends Error {
  constructor() {
    super('back one question');
    this.name = 'BackRequested';
  }
}

/** The questions fa edit asks (@inquirer/prompts at a terminal); each may reject with BackRequested. */
export interface Prompter {
  select(question: { message: string; choices: readonly Choice<string>[]; default?: string }): Promise<string>;
  /** Free text; `validate` answers true or why the value is refused (asked again). */
  input(question: { message: string; default?: string; validate: (value: string) => string | true }): Promise<string>;
  /** One of a list, narrowed as the admin types. */
  search<T>(question: { message: string; source: (term: string | undefined) => readonly Choice<T>[] }): Promise<T>;
  confirm(question: { message: string; default: boolean }): Promise<boolean>;
}

export interface FaEditDeps {
  readonly openMapper: (access: 'write' | 'dry-run') => Promise<Mapper>;
  /** The target's DFSP data (banks, branches, wallet providers), when it has some. */
  readonly loadDfsp: () => Promise<DfspData | undefined>;
  readonly prompter: Prompter;
  /** A line for the admin (stderr). */
  readonly say: (line: string) => void;
  /** A value as it may be shown on a terminal (control characters escaped). */
  readonly printable: (text: string) => string;
  /**
   * A value as one word of a shell command line to copy: the IDs in the commands hints suggest
   * (cli's shellWord; app cannot import it). Optional for fakes that never see a hint: without
   * it IDs are only made printable.
   */
  readonly word?: (text: string) => string;
  /** How the commands hints suggest begin, naming this run's mapper (`sparctl --db x.db`); `sparctl` without. */
  readonly sparctl?: string;
  /** Who runs it, for the audit log. */
  readonly user: string;
}

export interface FaEditInput {
  readonly id: string;
  /** ISO country for mobile numbers written without +code. */
  readonly country?: string;
  readonly dryRun?: boolean;
}

/** How the edit ended: nothing to change, a dry run, cancelled, rejected by the mapper, or updated. */
export type FaEditResult =
  | { readonly ended: 'unchanged' | 'dry-run' | 'cancelled'; readonly exitCode: number }
  | { readonly ended: 'rejected'; readonly reasonCode: string | null; readonly reasonMessage: string | null; readonly exitCode: number }
  /** `id`: the ID as stored, which may be a strategy's form of the one given (token:…@nationalId). */
  | { readonly ended: 'updated'; readonly id: string; readonly confirmed: boolean; readonly exitCode: number };

/**
 * The ID as every input takes it (NFC, nothing invisible), so the edit finds what link stored;
 * an ID no input would take is refused before anything else (even before the terminal is asked for).
 */
export function editedId(given: string): string {
  const checked = parseIdRecord({ id: given });
  if (!checked.ok) {
    const detail = checked.problems.map((p) => p.message).join('; ');
    throw new UsageError('input.invalid_record', `invalid record: ${detail}; nothing was changed`);
  }
  return checked.value.id;
}

export async function editFa(deps: FaEditDeps, input: FaEditInput): Promise<FaEditResult> {
  const given = editedId(input.id);
  const { prompter, say, printable } = deps;
  const ids = idText(deps);
  const mapper = await deps.openMapper(input.dryRun === true ? 'dry-run' : 'write');
  try {
    const { id, found, form } = await findStored(mapper, given, ids);
    if (form !== undefined)
      say(`${printable(given)} is stored as ${printable(id)} (ID strategy ${form.strategyId}); editing that beneficiary.`);
    const current = (found.fa ?? {}) as Record<string, unknown>;
    say(`Financial address of ${printable(id)} (${mapper.target}):`);
    const stored = mapper.storedFas ? (await mapper.storedFas([id], { source: 'sparctl fa edit' })).get(id) : undefined;
    const name = stored !== undefined && typeof stored === 'object' ? stored.name : undefined;
    say(`  name: ${name === undefined ? '(the mapper does not tell names)' : name === null ? '—' : printable(name)}`);
    for (const [field, value] of Object.entries(current)) say(`  ${field}: ${printable(String(value ?? ''))}`);

    const dfsp = await deps.loadDfsp();
    const currentType = FA_TYPES.find((type) => type === current['fa_type']);
    const answers: Record<string, string | number> = {};
    const faType = () => answers['fa_type'] as FaAnswers['fa_type'];
    const same = () => faType() === currentType;
    /** The value to offer first: what the admin answered before going back, else the current one. */
    const was = (field: string) =>
      typeof answers[field] === 'string'
        ? (answers[field] as string)
        : same() && typeof current[field] === 'string'
          ? (current[field] as string)
          : undefined;
    const text = async (message: string, field: string, check: (value: string) => string | true = () => true) => {
      const given = was(field);
      answers[field] = (
        await prompter.input({
          message,
          ...(given ? { default: given } : {}),
          validate: (value: string) => {
            const trimmed = value.trim();
            if (trimmed === '') return `${field} is needed`;
            if (!NO_CONTROL_CHARS.test(trimmed)) return `${field} may not hold control characters`;
            return check(trimmed);
          },
        })
      ).trim();
    };
    /**
     * One of a list, searched by code or name; the current value first, and offered even when
     * the list does not hold it (a bank the DFSP data lacks can be kept).
     */
    const pick = async (
      message: string,
      listed: readonly { code: string; name: string }[],
      codeField: string,
      nameField: string,
      offerCurrent = true,
    ) => {
      const code = was(codeField);
      const entries: { code: string; name: string; note?: string }[] = [...listed];
      if (offerCurrent && code !== undefined && !entries.some((entry) => entry.code === code))
        entries.push({ code, name: was(nameField) ?? '', note: '(current; not in the DFSP list)' });
      entries.sort((a, b) => Number(b.code === code) - Number(a.code === code));
      const chosen = await prompter.search({
        message,
        source: (term: string | undefined) => {
          const folded = (term ?? '').toLowerCase();
          return entries
            .filter((entry) => folded === '' || entry.code.toLowerCase().includes(folded) || entry.name.toLowerCase().includes(folded))
            .slice(0, 50)
            .map((entry) => ({ value: entry, name: `${entry.code}  ${entry.name}${entry.note ? `  ${entry.note}` : ''}` }));
        },
      });
      answers[codeField] = chosen.code;
      answers[nameField] = chosen.name;
    };
    const banks = dfsp?.banks ?? [];
    const branchesOf = () => (dfsp?.branches ?? []).filter((branch) => branch.bank_code === answers['bank_code']);
    /** Whether the branch is picked from a list: the bank's branches, or the current branch of the current bank. */
    const sameBank = () => same() && answers['bank_code'] === current['bank_code'];
    const branchListed = () => branchesOf().length > 0 || (banks.length > 0 && sameBank() && was('branch_code') !== undefined);
    const providers = () => (dfsp?.wallet_providers ?? []).filter((provider) => provider.wallet_type === faType());
    const isBank = () => faType() === 'BANK';
    const isWallet = () => faType() !== 'BANK';

    /** The questions in order, each asked when its condition holds. */
    const steps: { when: () => boolean; ask: () => Promise<void> }[] = [
      {
        when: () => true,
        ask: async () => {
          const chosen = await prompter.select({
            message: 'FA type',
            choices: FA_TYPES.map((type) => ({ value: type, name: type })),
            ...(typeof answers['fa_type'] === 'string' ? { default: answers['fa_type'] } : currentType ? { default: currentType } : {}),
          });
          if (chosen !== answers['fa_type']) for (const key of Object.keys(answers)) delete answers[key];
          answers['fa_type'] = chosen;
          answers['strategy_id'] =
            chosen === currentType && typeof current['strategy_id'] === 'number'
              ? current['strategy_id']
              : DEFAULT_STRATEGY_FOR[chosen as FaAnswers['fa_type']];
        },
      },
      { when: () => isBank() && banks.length > 0, ask: () => pick('Bank (type to search)', banks, 'bank_code', 'bank_name') },
      { when: () => isBank() && banks.length === 0, ask: () => text('Bank code', 'bank_code') },
      { when: () => isBank() && banks.length === 0, ask: () => text('Bank name', 'bank_name') },
      {
        when: () => isBank() && branchListed(),
        ask: () => pick('Branch (type to search)', branchesOf(), 'branch_code', 'branch_name', sameBank()),
      },
      { when: () => isBank() && !branchListed(), ask: () => text('Branch code', 'branch_code') },
      { when: () => isBank() && !branchListed(), ask: () => text('Branch name', 'branch_name') },
      {
        when: isBank,
        ask: () => text('Account number', 'account_number', (value) => (/\s/.test(value) ? 'account_number may not hold spaces' : true)),
      },
      {
        when: () => isWallet() && providers().length > 0,
        ask: () => pick('Wallet provider (type to search)', providers(), 'wallet_provider_code', 'wallet_provider_name'),
      },
      { when: () => isWallet() && providers().length === 0, ask: () => text('Wallet provider code', 'wallet_provider_code') },
      { when: () => isWallet() && providers().length === 0, ask: () => text('Wallet provider name', 'wallet_provider_name') },
      {
        when: () => faType() === 'MOBILE_WALLET',
        ask: async () => {
          await text('Payment mobile number (where money is paid; not the contact phone)', 'mobile_number', (value) => {
            const phone = normalizePhone(value, input.country, 'payment');
            return phone.ok ? true : `"${value}" ${phone.reason}`;
          });
          answers['mobile_number'] = (
            normalizePhone(answers['mobile_number'] as string, input.country, 'payment') as { value: string }
          ).value;
        },
      },
      {
        when: () => faType() === 'EMAIL_WALLET',
        ask: async () => {
          await text('E-mail address of the wallet', 'email_address', (value) => (EMAIL.test(value) ? true : 'not an e-mail address'));
          answers['email_address'] = (answers['email_address'] as string).toLowerCase();
        },
      },
    ];
    const strategies = new Map((await mapper.strategies()).map((strategy) => [strategy.id, strategy]));
    // The questions, then the review; Esc at the confirmation goes back to the last question.
    const asked: number[] = [];
    let step = 0;
    for (;;) {
      try {
        while (step < steps.length) {
          const question = steps[step]!;
          if (question.when()) {
            await question.ask();
            asked.push(step);
          }
          step++;
        }
        const outcome = await review();
        if (outcome !== 'write') return outcome;
        break;
      } catch (error) {
        if (!(error instanceof BackRequested)) throw error;
        step = asked.pop() ?? 0;
      }
    }

    async function review(): Promise<FaEditResult | 'write'> {
      const built = faFromAnswers(answers as FaAnswers);
      if (!built.ok) throw new UsageError('fa.invalid', `the new FA is not valid: ${built.problems.join('; ')}; nothing was changed`);
      const problem = checkStrategy({ id, fa: built.fa }, strategies);
      if (problem) throw new UsageError('fa.invalid', `the new FA cannot be stored: ${problem.message}; nothing was changed`);
      const changes = faChanges(current, built.fa);
      if (!changes.some((change) => change.changed)) return { ended: 'unchanged', exitCode: ExitCode.ok };
      const width = Math.max(...changes.map((change) => change.field.length));
      say('Before → after:');
      for (const change of changes) {
        say(
          `${change.changed ? '* ' : '  '}${change.field.padEnd(width)}  ${printable(change.before) || '—'}${change.changed ? ` → ${printable(change.after) || '—'}` : ''}`,
        );
      }
      if (input.dryRun) return { ended: 'dry-run', exitCode: ExitCode.ok };
      const go = await prompter.confirm({
        message: `Update the financial address of ${printable(id)} in ${mapper.target}?`,
        default: false,
      });
      return go ? 'write' : { ended: 'cancelled', exitCode: ExitCode.ok };
    }

    // The admin confirmed a change from the FA read when the edit began; another admin or an
    // import may have written since. Read it again and write only over the FA that was shown: a
    // change made meanwhile is never overwritten unseen. (SPAR has no compare-and-set; what is
    // left is the moment between this read and the update.)
    await assertUnchanged(mapper, id, current, ids);
    // Through the write pipeline, as every write: retried, and read back after a lost answer.
    const built = faFromAnswers(answers as FaAnswers) as { ok: true; fa: FaAnswers & FinancialAddress };
    // Where the mapper tells the stored FA string (the local one), the update is conditional on
    // it: written only while the mapper still holds the FA read when the edit began, checked in
    // the update's own transaction. The read just above cannot see a write that lands after it:
    // two admins confirming at once both passed it, and the second silently replaced the first.
    // The record names the FA by the string itself (the identity digest): its journal is in memory.
    const record = stored !== undefined && stored !== SAME_ROW ? { id, fa: built.fa, onlyIfFa: stored.fa } : { id, fa: built.fa };
    const { events, summary } = await writeRecords(mapper, [{ seq: 0, key: id, parsed: { ok: true, value: record } }], {
      mode: 'update',
      context: { source: `sparctl fa edit (user ${deps.user})` },
      retries: 2,
      backoffMs: { base: 250, max: 2_000 },
      strategies,
      faDigest: (fa) => fa,
    });
    if (summary.stopped)
      throw new SparctlError(
        summary.stopped.code,
        summary.stopped.message,
        summary.stopped.exitCode as ExitCode,
        summary.stopped.hint === undefined ? {} : { hint: summary.stopped.hint },
      );
    const [event] = events;
    if (event?.code === KEPT_CHANGED.code) throw changedError(mapper, id, true, ids);
    if (event === undefined || event.fate === 'rejected') {
      // An update refused because the ID was unlinked (or changed) meanwhile is that, not a rejection of the new FA.
      await assertUnchanged(mapper, id, current, ids);
      return { ended: 'rejected', reasonCode: event?.code ?? null, reasonMessage: event?.message ?? null, exitCode: ExitCode.rejected };
    }
    return { ended: 'updated', id, confirmed: event.fate === 'confirmed', exitCode: ExitCode.ok };
  } finally {
    await mapper.close();
  }
}

/** Refuses (`fa.changed`, nothing written) when the ID's FA is no longer the one the edit began from. */
async function assertUnchanged(mapper: Mapper, id: string, shown: Readonly<Record<string, unknown>>, text: Text): Promise<void> {
  const [now] = await mapper.resolve([{ reference_id: 'fa-edit-check', id, scope: 'details' }], { source: 'sparctl fa edit' });
  const found = now !== undefined && classifyResult('resolve', now) === 'found';
  const fa = (found ? (now.fa ?? {}) : {}) as Readonly<Record<string, unknown>>;
  const fields = new Set([...Object.keys(fa), ...Object.keys(shown)]);
  if (found && [...fields].every((field) => String(fa[field] ?? '') === String(shown[field] ?? ''))) return;
  throw changedError(mapper, id, found, text);
}

/** `fa.changed`: the FA the admin confirmed a change from is no longer the one the mapper holds (`linked`: false when the ID is gone). */
function changedError(mapper: Mapper, id: string, linked: boolean, { printable, word, sparctl }: Text): SparctlError {
  return new SparctlError(
    'fa.changed',
    `${printable(id)}'s financial address ${linked ? 'changed' : 'was unlinked'} in ${mapper.target} while you edited it; nothing was changed`,
    ExitCode.rejected,
    { hint: `run fa edit again to see the FA it holds now, and edit that one: ${sparctl} fa edit ${word(id)}` },
  );
}

/** How IDs are put in messages (printable) and in the commands hints suggest (word). */
interface Text {
  readonly printable: (text: string) => string;
  readonly word: (text: string) => string;
  /** `sparctl` and the flags that name this run's mapper: a hint's command, pasted, acts on the same mapper. */
  readonly sparctl: string;
}
const idText = ({ printable, word, sparctl }: Pick<FaEditDeps, 'printable' | 'word' | 'sparctl'>): Text => ({
  printable,
  word: word ?? printable,
  sparctl: sparctl ?? 'sparctl',
});

/**
 * Without a terminal `fa edit` only points at the flag form, `sparctl update --id …`: that
 * update takes the ID as stored, so the plain national ID of a beneficiary imported as
 * `token:…@nationalId` would be `not_found`. The ID as stored, looked up as the edit does
 * (`form`: the ID strategy's form it was found in); an ID linked in no form is `fa.not_linked`.
 */
export async function storedId(
  deps: { readonly openMapper: (access: 'read') => Promise<Mapper> } & Pick<FaEditDeps, 'printable' | 'word' | 'sparctl'>,
  given: string,
): Promise<{ id: string; form?: { strategyId: number }; faType?: FaType }> {
  const mapper = await deps.openMapper('read');
  try {
    const { id, form, found } = await findStored(mapper, given, idText(deps));
    const fa = found.fa;
    const faType = typeof fa === 'object' && fa !== null ? FA_TYPES.find((type) => type === fa['fa_type']) : undefined;
    return { id, ...(form === undefined ? {} : { form: { strategyId: form.strategyId } }), ...(faType === undefined ? {} : { faType }) };
  } finally {
    await mapper.close();
  }
}

/**
 * The ID as stored: the ID itself when it is linked, else the one form of it an ID strategy
 * builds that is (`form`). Never advises linking an ID whose stored form exists. The IDs in the
 * commands hints suggest are shell words: copied, they must run as shown.
 */
async function findStored(
  mapper: Mapper,
  given: string,
  { printable, word, sparctl }: Text,
): Promise<{ id: string; found: ItemResult; form?: { strategyId: number } }> {
  const context = { source: 'sparctl fa edit' };
  const [plain] = await mapper.resolve([{ reference_id: 'fa-edit', id: given, scope: 'details' }], context);
  if (plain && classifyResult('resolve', plain) === 'found') return { id: given, found: plain };
  const forms = idForms(given, await mapper.strategies());
  const results =
    forms.length === 0
      ? []
      : await mapper.resolve(
          forms.map((form, i) => ({ reference_id: `fa-edit-${i}`, id: form.id, scope: 'details' as const })),
          context,
        );
  const hits = forms.flatMap((form, i) =>
    results[i] && classifyResult('resolve', results[i]) === 'found' ? [{ form, found: results[i] }] : [],
  );
  if (hits.length === 1) {
    const [{ form, found }] = hits as [(typeof hits)[number]];
    return { id: form.id, found, form };
  }
  if (hits.length > 1) {
    throw new UsageError(
      'fa.ambiguous_id',
      `${printable(given)} is stored in more than one form: ${hits.map((hit) => printable(hit.form.id)).join(', ')}; nothing was changed`,
      { hint: `name the one to edit: ${hits.map((hit) => `${sparctl} fa edit ${word(hit.form.id)}`).join(' or ')}` },
    );
  }
  const tried = forms.length === 0 ? '' : ` (nor as ${forms.map((form) => printable(form.id)).join(', ')})`;
  throw new UsageError('fa.not_linked', `${printable(given)} is not linked in ${mapper.target}${tried}; there is no FA to edit`, {
    hint:
      forms.length === 0
        ? `link it first: ${sparctl} link --id ${word(given)} …`
        : // Every form tried is a choice, first the one the first ID strategy builds.
          `link it first, in the form your beneficiaries are stored in: ${sparctl} link --id ${word(forms[0]!.id)} … (${[...forms.slice(1).map((form) => form.id), given].map((id) => `or --id ${word(id)} …`).join(', ')})`,
  });
}
