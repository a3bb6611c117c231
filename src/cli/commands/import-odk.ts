import { Command, Option } from 'commander';
import type { GlobalOptions } from '../context.js';
import type { Io } from '../io.js';
import { addBulkOptions } from '../bulk-options.js';
import type { BulkJobFlags } from '../bulk-job.js';
import { parseNonNegative, parsePositive } from '../parse.js';
import { IMPORT_ODK_HELP } from '../help/import-odk.js';

interface ImportOdkOptions extends BulkJobFlags {
  mapping: string;
  dfsp?: string;
  odkUrl?: string;
  project?: number;
  form?: string;
  odkEmail?: string;
  odkPasswordFile?: string;
  instanceId?: string;
  skipReview: string;
  onDelete: 'ignore' | 'unlink';
  onReject: 'keep' | 'warn' | 'unlink';
  overlap: number;
  pageSize: number;
  full?: boolean;
  reapply?: boolean;
  watch?: boolean;
  interval: number;
  batchSize?: number;
  odkState?: 'adopt' | 'separate';
}

/** `sparctl import-odk --mapping M`: parse, run the import-odk use case (app/import-odk.ts), exit with its code. */
export function importOdkCommand(io: Io, setExit: (code: number) => void): Command {
  const command = new Command('import-odk')
    .description('pull submissions from an ODK Central form and link or update their financial addresses (incremental, resumable)')
    .requiredOption('--mapping <file>', 'JSON mapping of submission paths (e.g. "payment.account_number") to ID, name, phone and FA')
    .option('--dfsp <file>', 'banks, branches and wallet providers (JSON) to check codes and fill names from')
    .option('--odk-url <url>', 'ODK Central server (default: odkUrl of the profile, SPARCTL_ODK_URL)')
    .option('--project <id>', 'Central project id, a number (default: odkProject, SPARCTL_ODK_PROJECT)', (v) =>
      parsePositive(v, '--project'),
    )
    .option('--form <id>', "the form's xmlFormId (default: odkForm, SPARCTL_ODK_FORM)")
    .option(
      '--odk-email <email>',
      'Web User to log in as (default: odkEmail, SPARCTL_ODK_EMAIL); the password comes from SPARCTL_ODK_PASSWORD, --odk-password-file or a prompt',
    )
    .option('--odk-password-file <file>', 'file holding the password (never pass a password as a flag: it lands in shell history)')
    .option('--instance-id <id>', 'import exactly this one submission (its __id), whatever the watermark says')
    .option(
      '--skip-review <states>',
      'review states whose submissions are not imported, comma-separated (received, hasIssues, edited, approved, rejected; "" for none)',
      'rejected',
    )
    .addOption(
      new Option(
        '--on-delete <policy>',
        "a submission deleted in Central (or edited to name another ID): leave its beneficiary linked, or undo this importer's link (needs --yes)",
      )
        .choices(['ignore', 'unlink'])
        .default('ignore'),
    )
    .addOption(
      new Option(
        '--on-reject <policy>',
        "a submission a reviewer rejects after it was applied: keep its link, keep it and say so, or undo this importer's link (needs --yes)",
      )
        .choices(['keep', 'warn', 'unlink'])
        .default('warn'),
    )
    .option(
      '--overlap <seconds>',
      're-read this much before the watermark: submissions become visible slightly after their stamp',
      (v) => parseNonNegative(v, '--overlap'),
      300,
    )
    .option('--page-size <n>', 'submissions per page of the OData feed', (v) => parsePositive(v, '--page-size'), 250)
    .option('--full', 'read every submission again (content applied before is not applied again)')
    .option(
      '--reapply',
      'read every submission and write each live one again with the current mapping and DFSP data (a change made in the mapper since wins)',
    )
    .addOption(
      new Option(
        '--odk-state <choice>',
        "when this form's state is kept under another URL of Central: adopt (the same Central, its state moves here) or separate (another Central, a state of its own)",
      ).choices(['adopt', 'separate']),
    )
    .option('--watch', 'keep polling until interrupted (Ctrl-C finishes the batches in flight and exits 130)')
    .option('--interval <seconds>', 'seconds between polls with --watch', (v) => parsePositive(v, '--interval'), 60)
    .option('--batch-size <n>', 'records per request to the mapper (default: 500 or the profile)', (v) => parsePositive(v, '--batch-size'));
  // No --restart: a window started is always finished, or the importer forgets what it wrote.
  addBulkOptions(command, { restart: false });
  return command.addHelpText('after', IMPORT_ODK_HELP).action(async (options: ImportOdkOptions, cmd: Command) => {
    const { loadContext } = await import('../context.js');
    const context = await loadContext(io, cmd.optsWithGlobals<GlobalOptions>());
    const { importOdkDeps } = await import('../compose/import-odk.js');
    const { importOdk } = await import('../../app/import-odk.js');
    setExit((await importOdk(importOdkDeps(context, options), options)).exitCode);
  });
}
