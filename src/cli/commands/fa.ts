import { Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import type { FaType } from '../../core/model.js';
import type { GlobalOptions } from '../context.js';
import { checkCountry, countryCode } from '../parse.js';
import type { Io } from '../io.js';

/** The flags that give an FA of each type, for the hint without a terminal. */
const FA_FLAGS: Readonly<Record<FaType, string>> = {
  BANK: '--fa-type BANK --bank-code … --branch-code … --account-number …',
  MOBILE_WALLET: '--fa-type MOBILE_WALLET --wallet-provider-code … --mobile-number …',
  EMAIL_WALLET: '--fa-type EMAIL_WALLET --wallet-provider-code … --email-address …',
};

/** `sparctl fa edit ID`: an admin fixes one beneficiary's financial address, interactively (app/fa-edit.ts). */
export function faCommand(io: Io, setExit: (code: number) => void): Command {
  const fa = new Command('fa').description("work on one beneficiary's financial address interactively");
  fa.command('edit')
    .description("show a beneficiary's financial address, change it step by step, confirm, update")
    .argument('<id>', 'the beneficiary ID')
    .option('--country <code>', 'ISO country for mobile numbers written without +code (e.g. PH, KE)', countryCode('--country'))
    .option('--dry-run', 'ask, show before → after, and write nothing')
    .addHelpText(
      'after',
      `
Resolves the ID (a plain ID also in the forms the ID strategies build, e.g.
token:ID@nationalId), shows the name and FA, then asks for the FA type, the bank and branch or
the wallet provider (searched in the target's DFSP data: see "sparctl dfsp"; the current one
stays selectable), and the account number, payment mobile number or e-mail, each checked as
typed. Esc goes back one question; Ctrl-C cancels. Shows before → after and updates only after
you confirm. Needs a terminal; without one (or with --no-input) it looks the ID up and points at
the flags, with the ID as stored (names are filled from the DFSP data):
  $ sparctl update --id ID --fa-type BANK --bank-code LBP --branch-code 0100 --account-number ...

Examples:
  $ sparctl fa edit 0001234567
  $ sparctl --profile staging fa edit token:0001234567@nationalId --country PH`,
    )
    .action(async (id: string, options: { country?: string; dryRun?: boolean }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await checkCountry(options.country);
      const [{ loadContext, openMapper, targetArgs }, { faEditDeps }, { editFa, editedId, storedId }, { printable, shellWord }] =
        await Promise.all([
          import('../context.js'),
          import('../compose/fa-edit.js'),
          import('../../app/fa-edit.js'),
          import('../output.js'),
        ]);
      const given = editedId(id);
      const context = () => loadContext(io, globals);
      if (globals.input === false || !io.stdinIsTTY || !io.stderrIsTTY) {
        // The flag form takes the ID as stored: looked up as the edit would, so the hint names the
        // form found (token:…@nationalId for a plain national ID), else says it is not linked.
        const target = await context();
        // The hint names the mapper this run used (pasted, it updated the default profile's) and the FA's own type.
        const sparctl = `sparctl ${targetArgs(target)}`.trimEnd();
        const stored = await storedId({ openMapper: (access) => openMapper(target, access), printable, word: shellWord, sparctl }, given);
        const as = stored.form ? `${printable(given)} is stored as ${printable(stored.id)} (ID strategy ${stored.form.strategyId}); ` : '';
        throw new UsageError('usage.not_interactive', 'fa edit asks questions and needs a terminal; nothing was changed', {
          hint: `${as}change the FA with flags instead: ${sparctl} update --id ${shellWord(stored.id)} ${FA_FLAGS[stored.faType ?? 'BANK']} (see sparctl update --help)`,
        });
      }
      const result = await editFa(await faEditDeps(await context()), { id, ...options });
      const say = (line: string) => io.stderr.write(`${line}\n`);
      if (result.ended === 'unchanged') say('Nothing changed: the FA stays as it is.');
      if (result.ended === 'dry-run') say('Dry run: nothing was changed (without --dry-run, this is the update that would be made).');
      if (result.ended === 'cancelled') say('Cancelled: nothing was changed.');
      if (result.ended === 'rejected')
        say(`Not updated: ${result.reasonCode ?? 'no answer'}${result.reasonMessage ? ` ${result.reasonMessage}` : ''}`);
      if (result.ended === 'updated')
        io.stdout.write(`${result.confirmed ? 'updated (confirmed after a lost answer)' : 'updated'} ${printable(result.id)}\n`);
      setExit(result.exitCode);
    });
  return fa;
}
