import { userInfo } from 'node:os';
import { Command } from 'commander';
import { ExitCode, SparctlError, UsageError } from '../../core/errors.js';
import type { GlobalOptions } from '../context.js';
import type { Io } from '../io.js';

/** `sparctl fa edit ID`: an admin fixes one beneficiary's financial address, interactively. */
export function faCommand(io: Io, setExit: (code: number) => void): Command {
  const fa = new Command('fa').description("work on one beneficiary's financial address interactively");
  fa.command('edit')
    .description("show a beneficiary's financial address, change it step by step, confirm, update")
    .argument('<id>', 'the beneficiary ID')
    .option('--country <code>', 'ISO country for mobile numbers written without +code (e.g. PH, KE)')
    .option('--dry-run', 'ask, show before → after, and write nothing')
    .addHelpText(
      'after',
      `
Resolves the ID, shows its FA, then asks for the FA type, the bank and branch or the wallet
provider (searched in the target's DFSP data: see "sparctl dfsp"), and the account number,
payment mobile number or e-mail, each checked as typed. Shows before → after and updates only
after you confirm. Needs a terminal; without one (or with --no-input) use flags instead:
  $ sparctl update --id ID --fa-type BANK --bank-code LBP --bank-name "Land Bank" ...

Examples:
  $ sparctl fa edit 0001234567
  $ sparctl --profile staging fa edit token:0001234567@nationalId --country PH`,
    )
    .action(async (id: string, options: { country?: string; dryRun?: boolean }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      if (globals.input === false || !io.stdinIsTTY || !io.stderrIsTTY) {
        throw new UsageError('usage.not_interactive', 'fa edit asks questions and needs a terminal; nothing was changed', {
          hint: `change the FA with flags instead: sparctl update --id ${id} --fa-type BANK --bank-code … --account-number … (see sparctl update --help)`,
        });
      }
      setExit(await editFa(io, globals, id, options));
    });
  return fa;
}

async function editFa(io: Io, globals: GlobalOptions, id: string, options: { country?: string; dryRun?: boolean }): Promise<number> {
  const { loadContext, openMapper } = await import('../context.js');
  const { loadDfsp } = await import('../dfsp-data.js');
  const { classifyResult } = await import('../../core/results.js');
  const { DEFAULT_STRATEGY_FOR, FA_TYPES, EMAIL, NO_CONTROL_CHARS } = await import('../../core/model.js');
  const { normalizePhone } = await import('../../core/mapping.js');
  const { checkStrategy } = await import('../../core/records.js');
  const { faChanges, faFromAnswers } = await import('../../core/fa-edit.js');
  const { printable } = await import('../output.js');
  const prompts = await import('@inquirer/prompts');
  const ask = { input: io.stdin, output: io.stderr };
  const say = (line: string) => io.stderr.write(`${line}\n`);

  const context = await loadContext(io, globals);
  const mapper = await openMapper(context, options.dryRun === true ? 'dry-run' : 'write');
  try {
    const [found] = await mapper.resolve([{ reference_id: 'fa-edit', id, scope: 'details' }], { source: 'sparctl fa edit' });
    if (!found || classifyResult('resolve', found) !== 'found') {
      throw new UsageError('fa.not_linked', `${id} is not linked in ${mapper.target}; there is no FA to edit`, { hint: `link it first: sparctl link --id ${id} …` });
    }
    const current = (found.fa ?? {}) as Record<string, unknown>;
    say(`Financial address of ${printable(id)} (${mapper.target}):`);
    for (const [field, value] of Object.entries(current)) say(`  ${field}: ${printable(String(value ?? ''))}`);

    const dfsp = await loadDfsp(context, { required: false });
    const currentType = FA_TYPES.find((type) => type === current['fa_type']);
    const faType = await prompts.select(
      { message: 'FA type', choices: FA_TYPES.map((type) => ({ value: type, name: type })), ...(currentType ? { default: currentType } : {}) },
      ask,
    );
    const same = faType === currentType;
    const was = (field: string) => (same && typeof current[field] === 'string' ? (current[field] as string) : undefined);
    const text = async (message: string, field: string, check: (value: string) => string | true = () => true) =>
      (
        await prompts.input(
          {
            message,
            ...(was(field) ? { default: was(field)! } : {}),
            validate: (value: string) => {
              const trimmed = value.trim();
              if (trimmed === '') return `${field} is needed`;
              if (!NO_CONTROL_CHARS.test(trimmed)) return `${field} may not hold control characters`;
              return check(trimmed);
            },
          },
          ask,
        )
      ).trim();
    /** One of a list, searched by code or name; the current value first. */
    const pick = async (message: string, entries: readonly { code: string; name: string }[], field: string) => {
      const ordered = [...entries].sort((a, b) => Number(b.code === was(field)) - Number(a.code === was(field)));
      return prompts.search(
        {
          message,
          source: (term: string | undefined) => {
            const folded = (term ?? '').toLowerCase();
            return ordered
              .filter((entry) => folded === '' || entry.code.toLowerCase().includes(folded) || entry.name.toLowerCase().includes(folded))
              .slice(0, 50)
              .map((entry) => ({ value: entry, name: `${entry.code}  ${entry.name}` }));
          },
        },
        ask,
      );
    };

    const answers: Record<string, string | number> = { fa_type: faType, strategy_id: same && typeof current['strategy_id'] === 'number' ? current['strategy_id'] : DEFAULT_STRATEGY_FOR[faType] };
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
      answers['account_number'] = await text('Account number', 'account_number', (value) => (/\s/.test(value) ? 'account_number may not hold spaces' : true));
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
          const phone = normalizePhone(value, options.country);
          return phone.ok ? true : `"${value}" ${phone.reason}`;
        });
        answers['mobile_number'] = (normalizePhone(raw, options.country) as { value: string }).value;
      } else {
        answers['email_address'] = (await text('E-mail address of the wallet', 'email_address', (value) => (EMAIL.test(value) ? true : 'not an e-mail address'))).toLowerCase();
      }
    }

    const built = faFromAnswers(answers as Parameters<typeof faFromAnswers>[0]);
    if (!built.ok) throw new UsageError('fa.invalid', `the new FA is not valid: ${built.problems.join('; ')}; nothing was changed`);
    const strategies = new Map((await mapper.strategies()).map((strategy) => [strategy.id, strategy]));
    const problem = checkStrategy({ id, fa: built.fa }, strategies);
    if (problem) throw new UsageError('fa.invalid', `the new FA cannot be stored: ${problem.message}; nothing was changed`);

    const changes = faChanges(current, built.fa);
    if (!changes.some((change) => change.changed)) {
      say('Nothing changed: the FA stays as it is.');
      return ExitCode.ok;
    }
    const width = Math.max(...changes.map((change) => change.field.length));
    say('Before → after:');
    for (const change of changes) {
      say(`${change.changed ? '* ' : '  '}${change.field.padEnd(width)}  ${printable(change.before) || '—'}${change.changed ? ` → ${printable(change.after) || '—'}` : ''}`);
    }
    if (options.dryRun) {
      say('Dry run: nothing was changed (without --dry-run, this is the update that would be made).');
      return ExitCode.ok;
    }
    const go = await prompts.confirm({ message: `Update the financial address of ${printable(id)} in ${mapper.target}?`, default: false }, ask);
    if (!go) {
      say('Cancelled: nothing was changed.');
      return ExitCode.ok;
    }
    let user = 'unknown';
    try {
      user = userInfo().username;
    } catch {
      // no passwd entry (some containers)
    }
    // Through the write pipeline, as every write: retried, and read back after a lost answer.
    const { writeRecords } = await import('../../core/bulk/write-records.js');
    const record = { id, fa: built.fa };
    const { events, summary } = await writeRecords(mapper, [{ seq: 0, key: id, parsed: { ok: true, value: record } }], {
      mode: 'update',
      context: { source: `sparctl fa edit (user ${user})` },
      retries: 2,
      backoffMs: { base: 250, max: 2_000 },
      strategies,
    });
    if (summary.stopped) throw new SparctlError(summary.stopped.code, summary.stopped.message, summary.stopped.exitCode as ExitCode, summary.stopped.hint === undefined ? {} : { hint: summary.stopped.hint });
    const [event] = events;
    if (event === undefined || event.fate === 'rejected') {
      say(`Not updated: ${event?.code ?? 'no answer'}${event?.message ? ` ${event.message}` : ''}`);
      return ExitCode.rejected;
    }
    io.stdout.write(`${event.fate === 'confirmed' ? 'updated (confirmed after a lost answer)' : 'updated'} ${printable(id)}\n`);
    return ExitCode.ok;
  } finally {
    await mapper.close();
  }
}
