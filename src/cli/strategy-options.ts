import { type Command, Option } from 'commander';

/** The flags that give a strategy by hand, shared by strategy validate, add and export. */
export function definitionOptions(command: Command): Command {
  return command
    .option('--file <file>', 'strategies from a JSON or YAML file ("-" = stdin)')
    .option('--id <n>', 'the strategy id: a whole number, the same in every environment')
    .addOption(new Option('--type <type>', 'FA (financial address, the default) or ID').choices(['FA', 'ID']))
    .option('--construct <template>', 'construct_strategy: a Python str.format template, e.g. "bank:{bank_code}|account:{account_number}"')
    .option('--deconstruct <regex>', 'deconstruct_strategy: a Python regex with (?P<name>...) groups')
    .option('--description <text>', 'what the strategy is for');
}
