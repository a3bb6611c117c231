import type { FaEditDeps, Prompter } from '../../app/fa-edit.js';
import { openMapper, type CommandContext } from '../context.js';
import { userName } from './records.js';

/** The composition of app/fa-edit.ts: the target's mapper and DFSP data, @inquirer's prompts on the terminal. */
export async function faEditDeps(context: CommandContext): Promise<FaEditDeps> {
  const { io } = context;
  const [{ loadDfsp }, { printable }, prompts] = await Promise.all([
    import('../dfsp-data.js'),
    import('../output.js'),
    import('@inquirer/prompts'),
  ]);
  const ask = { input: io.stdin, output: io.stderr };
  const prompter: Prompter = {
    select: (question) => prompts.select({ ...question, choices: [...question.choices] }, ask),
    input: (question) => prompts.input(question, ask),
    search: (question) =>
      prompts.search({ message: question.message, source: (term: string | undefined) => [...question.source(term)] }, ask),
    confirm: (question) => prompts.confirm(question, ask),
  };
  return {
    openMapper: (access) => openMapper(context, access),
    loadDfsp: () => loadDfsp(context, { required: false }),
    prompter,
    say: (line) => void io.stderr.write(`${line}\n`),
    printable,
    user: userName(),
  };
}
