import { writeRecords } from '../core/bulk/write-records.js';
import { ExitCode, SparctlError, UsageError } from '../core/errors.js';
import { faChanges, faFromAnswers, type FaAnswers } from '../core/fa-edit.js';
import type { Mapper } from '../core/mapper.js';
import { normalizePhone, type DfspData } from '../core/mapping.js';
import { DEFAULT_STRATEGY_FOR, EMAIL, FA_TYPES, NO_CONTROL_CHARS } from '../core/model.js';
import { checkStrategy, parseIdRecord } from '../core/request-items.js';
import { classifyResult } from '../core/results.js';

/**
 * `fa edit`: an admin fixes one beneficiary's FA at a terminal. Resolve the ID, show its FA,
 * ask for the new one step by step (DFSP data to pick from when the target has it, each answer
 * checked as typed), check it against its strategy, show before → after, confirm, update
 * through the write pipeline. The questions come from a `Prompter` so the flow runs without a
 * terminal in tests.
 */

export interface Choice<T> {
  readonly value: T;
  readonly name: string;
}

/** The questions fa edit asks (@inquirer/prompts at a terminal). */
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
  | { readonly ended: 'updated'; readonly confirmed: boolean; readonly exitCode: number };

export async function editFa(deps: FaEditDeps, input: FaEditInput): Promise<FaEditResult> {
  // The ID as every input takes it (NFC, nothing invisible), so the edit finds what link stored.
  const checked = parseIdRecord({ id: input.id });
  if (!checked.ok) {
    const detail = checked.problems.map((p) => p.message).join('; ');
    throw new UsageError('input.invalid_record', `invalid record: ${detail}; nothing was changed`);
  }
  const { id } = checked.value;
  const { prompter, say, printable } = deps;
  const mapper = await deps.openMapper(input.dryRun === true ? 'dry-run' : 'write');
  try {
    const [found] = await mapper.resolve([{ reference_id: 'fa-edit', id, scope: 'details' }], { source: 'sparctl fa edit' });
    if (!found || classifyResult('resolve', found) !== 'found') {
      throw new UsageError('fa.not_linked', `${id} is not linked in ${mapper.target}; there is no FA to edit`, {
        hint: `link it first: sparctl link --id ${id} …`,
      });
    }
    const current = (found.fa ?? {}) as Record<string, unknown>;
    say(`Financial address of ${printable(id)} (${mapper.target}):`);
    for (const [field, value] of Object.entries(current)) say(`  ${field}: ${printable(String(value ?? ''))}`);

    const dfsp = await deps.loadDfsp();
    const currentType = FA_TYPES.find((type) => type === current['fa_type']);
    const faType = (await prompter.select({
      message: 'FA type',
      choices: FA_TYPES.map((type) => ({ value: type, name: type })),
      ...(currentType ? { default: currentType } : {}),
    })) as FaAnswers['fa_type'];
    const same = faType === currentType;
    const was = (field: string) => (same && typeof current[field] === 'string' ? (current[field] as string) : undefined);
    const text = async (message: string, field: string, check: (value: string) => string | true = () => true) =>
      (
        await prompter.input({
          message,
          ...(was(field) ? { default: was(field)! } : {}),
          validate: (value: string) => {
            const trimmed = value.trim();
            if (trimmed === '') return `${field} is needed`;
            if (!NO_CONTROL_CHARS.test(trimmed)) return `${field} may not hold control characters`;
            return check(trimmed);
          },
        })
      ).trim();
    /** One of a list, searched by code or name; the current value first. */
    const pick = async (message: string, entries: readonly { code: string; name: string }[], field: string) => {
      const ordered = [...entries].sort((a, b) => Number(b.code === was(field)) - Number(a.code === was(field)));
      return prompter.search({
        message,
        source: (term: string | undefined) => {
          const folded = (term ?? '').toLowerCase();
          return ordered
            .filter((entry) => folded === '' || entry.code.toLowerCase().includes(folded) || entry.name.toLowerCase().includes(folded))
            .slice(0, 50)
            .map((entry) => ({ value: entry, name: `${entry.code}  ${entry.name}` }));
        },
      });
    };

    const answers: Record<string, string | number> = {
      fa_type: faType,
      strategy_id: same && typeof current['strategy_id'] === 'number' ? current['strategy_id'] : DEFAULT_STRATEGY_FOR[faType],
    };
    if (faType === 'BANK') {
      if (dfsp && dfsp.banks.length > 0) {
        const bank = await pick('Bank (type to search)', dfsp.banks, 'bank_code');
        answers['bank_code'] = bank.code;
        answers['bank_name'] = bank.name;
        const branches = dfsp.branches.filter((branch) => branch.bank_code === bank.code);
        if (branches.length > 0) {
          const branch = await pick('Branch (type to search)', branches, 'branch_code');
          answers['branch_code'] = branch.code;
          answers['branch_name'] = branch.name;
        } else {
          answers['branch_code'] = await text('Branch code', 'branch_code');
          answers['branch_name'] = await text('Branch name', 'branch_name');
        }
      } else {
        answers['bank_code'] = await text('Bank code', 'bank_code');
        answers['bank_name'] = await text('Bank name', 'bank_name');
        answers['branch_code'] = await text('Branch code', 'branch_code');
        answers['branch_name'] = await text('Branch name', 'branch_name');
      }
      answers['account_number'] = await text('Account number', 'account_number', (value) =>
        /\s/.test(value) ? 'account_number may not hold spaces' : true,
      );
    } else {
      const providers = (dfsp?.wallet_providers ?? []).filter((provider) => provider.wallet_type === faType);
      if (providers.length > 0) {
        const provider = await pick('Wallet provider (type to search)', providers, 'wallet_provider_code');
        answers['wallet_provider_code'] = provider.code;
        answers['wallet_provider_name'] = provider.name;
      } else {
        answers['wallet_provider_code'] = await text('Wallet provider code', 'wallet_provider_code');
        answers['wallet_provider_name'] = await text('Wallet provider name', 'wallet_provider_name');
      }
      if (faType === 'MOBILE_WALLET') {
        const raw = await text('Payment mobile number (where money is paid; not the contact phone)', 'mobile_number', (value) => {
          const phone = normalizePhone(value, input.country);
          return phone.ok ? true : `"${value}" ${phone.reason}`;
        });
        answers['mobile_number'] = (normalizePhone(raw, input.country) as { value: string }).value;
      } else {
        answers['email_address'] = (
          await text('E-mail address of the wallet', 'email_address', (value) => (EMAIL.test(value) ? true : 'not an e-mail address'))
        ).toLowerCase();
      }
    }

    const built = faFromAnswers(answers as FaAnswers);
    if (!built.ok) throw new UsageError('fa.invalid', `the new FA is not valid: ${built.problems.join('; ')}; nothing was changed`);
    const strategies = new Map((await mapper.strategies()).map((strategy) => [strategy.id, strategy]));
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
    const go = await prompter.confirm({ message: `Update the financial address of ${printable(id)} in ${mapper.target}?`, default: false });
    if (!go) return { ended: 'cancelled', exitCode: ExitCode.ok };
    // Through the write pipeline, as every write: retried, and read back after a lost answer.
    const record = { id, fa: built.fa };
    const { events, summary } = await writeRecords(mapper, [{ seq: 0, key: id, parsed: { ok: true, value: record } }], {
      mode: 'update',
      context: { source: `sparctl fa edit (user ${deps.user})` },
      retries: 2,
      backoffMs: { base: 250, max: 2_000 },
      strategies,
    });
    if (summary.stopped)
      throw new SparctlError(
        summary.stopped.code,
        summary.stopped.message,
        summary.stopped.exitCode as ExitCode,
        summary.stopped.hint === undefined ? {} : { hint: summary.stopped.hint },
      );
    const [event] = events;
    if (event === undefined || event.fate === 'rejected')
      return { ended: 'rejected', reasonCode: event?.code ?? null, reasonMessage: event?.message ?? null, exitCode: ExitCode.rejected };
    return { ended: 'updated', confirmed: event.fate === 'confirmed', exitCode: ExitCode.ok };
  } finally {
    await mapper.close();
  }
}
