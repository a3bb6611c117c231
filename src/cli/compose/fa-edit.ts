import { emitKeypressEvents } from 'node:readline';
import { BackRequested, type FaEditDeps, type Prompter } from '../../app/fa-edit.js';
import { SparctlError } from '../../core/errors.js';
import { STOP_SIGNALS, type StopSignal } from '../../core/stop-signals.js';
import { openMapper, targetArgs, type CommandContext } from '../context.js';
import { userName } from './records.js';

const STOP_SIGNAL_NAMES = Object.keys(STOP_SIGNALS) as StopSignal[];

/** The composition of app/fa-edit.ts: the target's mapper and DFSP data, @inquirer's prompts on the terminal. */
export async function faEditDeps(context: CommandContext): Promise<FaEditDeps> {
  const { io } = context;
  const [{ loadDfsp }, { printable, shellWord }, prompts] = await Promise.all([
    import('../dfsp-data.js'),
    import('../output.js'),
    import('@inquirer/prompts'),
  ]);
  /**
   * One question with Esc as "back": @inquirer has no back key, so Esc aborts the prompt through
   * its AbortSignal and the abort becomes BackRequested, which app/fa-edit.ts answers by asking
   * the previous question again. Ctrl-C stays @inquirer's ExitPromptError: cancelled, nothing written.
   */
  emitKeypressEvents(io.stdin);
  const ask = async <T>(prompt: (context: { input: typeof io.stdin; output: typeof io.stderr; signal: AbortSignal }) => Promise<T>) => {
    const controller = new AbortController();
    let inputEnded = false;
    const onKey = (_: unknown, key: { name?: string } | undefined) => {
      if (key?.name === 'escape') controller.abort();
    };
    // Ctrl-D ends the terminal's input: nothing is left to answer the question, and the event
    // loop drains. Unanswered, the question would only be rejected as the process exits — after
    // the exit code was settled as 0. Ended input cancels like Ctrl-C, while the loop still runs.
    const onDrained = () => {
      inputEnded = true;
      controller.abort();
    };
    // A stop signal (kill, the terminal closing, Ctrl-C sent as a signal rather than typed) ends
    // the question as Ctrl-C does — nothing written, the mapper closed — with the signal's own
    // line and exit code; unheard, it killed the process mid-question, leaving -wal and -shm.
    let stoppedBy: StopSignal | undefined;
    const onSignal = (signal: StopSignal) => {
      stoppedBy = signal;
      controller.abort();
    };
    io.stdin.on('keypress', onKey);
    process.once('beforeExit', onDrained);
    for (const signal of STOP_SIGNAL_NAMES) process.on(signal, onSignal);
    try {
      return await prompt({ input: io.stdin, output: io.stderr, signal: controller.signal });
    } catch (error) {
      if (controller.signal.aborted && error instanceof Error && error.name === 'AbortPromptError') {
        if (stoppedBy !== undefined) {
          const { code, said, exitCode } = STOP_SIGNALS[stoppedBy];
          throw new SparctlError(code, `${said}; nothing was written`, exitCode);
        }
        if (!inputEnded) throw new BackRequested();
        throw Object.assign(new Error('the terminal input ended (Ctrl-D)'), { name: 'ExitPromptError' });
      }
      throw error;
    } finally {
      io.stdin.off('keypress', onKey);
      process.off('beforeExit', onDrained);
      for (const signal of STOP_SIGNAL_NAMES) process.off(signal, onSignal);
    }
  };
  const prompter: Prompter = {
    select: (question) => ask((context) => prompts.select({ ...question, choices: [...question.choices] }, context)),
    input: (question) => ask((context) => prompts.input(question, context)),
    search: (question) =>
      ask((context) =>
        prompts.search({ message: question.message, source: (term: string | undefined) => [...question.source(term)] }, context),
      ),
    confirm: (question) => ask((context) => prompts.confirm(question, context)),
  };
  return {
    openMapper: (access) => openMapper(context, access),
    loadDfsp: () => loadDfsp(context, { required: false }),
    prompter,
    say: (line) => void io.stderr.write(`${line}\n`),
    printable,
    word: shellWord,
    sparctl: `sparctl ${targetArgs(context)}`.trimEnd(),
    user: userName(),
  };
}
