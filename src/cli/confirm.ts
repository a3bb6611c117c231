import { UsageError } from '../core/errors.js';
import type { GlobalOptions } from './context.js';
import type { Io } from './io.js';

/** Unlinking stops payments: it needs --yes, or a yes at a terminal prompt. */
export async function confirmUnlink(io: Io, globals: GlobalOptions, what: string, target: string): Promise<void> {
  if (globals.yes) return;
  if (globals.input === false || !io.stdinIsTTY || !io.stderrIsTTY) {
    throw new UsageError(
      'usage.confirmation_required',
      `unlink would remove the financial address of ${what} from ${target}; nothing was unlinked`,
      {
        hint: 'pass --yes to confirm',
      },
    );
  }
  const { confirm } = await import('@inquirer/prompts');
  const ok = await confirm(
    { message: `Unlink ${what} from ${target}? Payments to them will have no account to go to.`, default: false },
    { input: io.stdin, output: io.stderr },
  );
  if (!ok) throw new UsageError('usage.not_confirmed', 'unlink cancelled; nothing was unlinked');
}
