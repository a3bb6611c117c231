import type { OutputFormat } from '../../config/constants.js';
import { Command, type Option } from 'commander';
import { ExitCode } from '../../core/errors.js';
import type { Io } from '../io.js';
import type { CommandNode } from '../../app/completion.js';

/**
 * `sparctl completion bash|zsh|fish`: a completion script generated from the command tree
 * itself, so it never drifts from the commands and flags sparctl has.
 */
export function completionCommand(io: Io, setExit: (code: number) => void): Command {
  return new Command('completion')
    .description('print a shell completion script (bash, zsh or fish)')
    .addArgument(new Command().createArgument('<shell>', 'bash, zsh or fish').choices(['bash', 'zsh', 'fish']))
    .addHelpText(
      'after',
      `
Examples:
  $ sparctl completion bash > ~/.local/share/bash-completion/completions/sparctl
  $ sparctl completion zsh > "\${fpath[1]}/_sparctl"
  $ sparctl completion fish > ~/.config/fish/completions/sparctl.fish`,
    )
    .action(async (shell: 'bash' | 'zsh' | 'fish', _options: unknown, cmd: Command) => {
      const { refuseOutputFlag } = await import('../output.js');
      refuseOutputFlag('completion', cmd.optsWithGlobals<{ output?: OutputFormat }>().output, 'it prints a shell script');
      const root = cmd.parent!;
      const tree = describe(root);
      const { completionScript } = await import('../../app/completion.js');
      io.stdout.write(completionScript(shell, tree));
      setExit(ExitCode.ok);
    });
}

function describe(command: Command): CommandNode {
  const options = command.options
    .filter((option: Option) => option.long !== undefined && !option.hidden)
    .map((option: Option) => ({
      flag: option.long!,
      ...(option.short ? { short: option.short } : {}),
      description: option.description,
      ...(option.argChoices ? { choices: option.argChoices } : {}),
    }));
  return {
    name: command.name(),
    description: command.description(),
    options: [...options, { flag: '--help', description: 'show help' }],
    commands: command.commands.map(describe),
  };
}
