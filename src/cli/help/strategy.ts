/** The long help texts of `strategy` and its subcommands (after the options), kept out of the command file. */

/** How a strategy is given, for validate, add and export. */
const DEFINITION_HELP = `
A strategy is given by flags (--id, --type, --construct, --deconstruct, --description) or by
--file: JSON (one strategy object, a list of them, or {"seedData": {"strategies": [...]}}) or
the same in simple YAML (block mappings and lists, one-line values; the chart's values.yaml
reads as is). Fields: id, strategy_type (FA|ID), construct_strategy (Python str.format),
deconstruct_strategy (Python re with (?P<name>...) groups), description, active.`;

export const STRATEGY_HELP = `
Strategies are append-only: an id, once used, always means the same strategy in every
environment. Add a changed strategy as a new version under a new id.

Examples:
  $ sparctl strategy list
  $ sparctl strategy validate 2
  $ sparctl strategy validate --file strategies.json
  $ sparctl strategy add --file strategies.json
  $ sparctl strategy export --format helm > spar-strategies.yaml`;

export const LIST_HELP = `
Columns: id, type, construct template, description (-o json adds the deconstruct regex).
SPAR has no API for strategies, so for a remote profile these are SPAR's defaults 1-5 and the
ones the profile declares (strategiesFile, strategies), with a "from" column saying which.

Examples:
  $ sparctl strategy list
  $ sparctl strategy list -o json
  $ sparctl --profile staging strategy list`;

export const VALIDATE_HELP = `${DEFINITION_HELP}

Checks: the template is Python str.format and the regex Python re that sparctl reproduces
exactly; no catastrophic backtracking; every {field} has a (?P<field>...) group and every group
a field (or reads a constant); FA strategies use FA field names of one kind; and a round trip
of plain, ordinary and adversarial values (the template's own labels, dots, colons, empty
values, line breaks, other scripts) through construct and re.match gives every field back.

An error (exit 2) is a strategy that misreads values real data has. A warning is a value that
only fails because it contains the template's own text (".branch_name:") or is one sparctl
refuses on input (empty, a line break): sparctl refuses such records at link time. SPAR's
defaults pass with warnings. -v lists every failing value; -o json gives the full report.

Examples:
  $ sparctl strategy validate
  $ sparctl strategy validate 2 5
  $ sparctl strategy validate --file strategies.json --strict
  $ sparctl strategy validate --id 7 --construct 'bank:{bank_code}|account:{account_number}' \\
      --deconstruct '^bank:(?P<bank_code>[^|]*)\\|account:(?P<account_number>.*)$'`;

export const ADD_HELP = `${DEFINITION_HELP}

The strategy is validated first (as "strategy validate"); one with errors is refused. Adding an
id that exists with the same content does nothing; with different content it is refused: FAs
already stored with that id must keep reading back the same way. Add the new version under a
new id instead. All strategies of a file are added, or none.

With a remote profile (SPAR has no API for strategies) they are appended to the profile's
strategiesFile, which is created on the first add (the config file itself is never edited), and
the SQL and the Helm values to apply to the deployment are printed on stdout.

Examples:
  $ sparctl strategy add --id 7 --type FA --description "Bank code and account" \\
      --construct 'bank:{bank_code}|account:{account_number}' \\
      --deconstruct '^bank:(?P<bank_code>[^|]*)\\|account:(?P<account_number>.*)$'
  $ sparctl strategy add --file strategies.json
  $ sparctl --db field.db strategy add --file spar-values.yaml
  $ sparctl --profile staging strategy add --file strategies.json > apply-to-spar.txt`;

export const EXPORT_HELP = `
By default the profile's strategies are exported (the local mapper's table); --file or the
definition flags export those instead, after validating them. The output is the same for the
same strategies (sorted by id, no timestamps), so it can be kept in version control.

helm: merge into the chart's values. Helm replaces lists whole, so the snippet keeps SPAR's
      defaults 1-5; the seed job inserts each id with ON CONFLICT (id) DO NOTHING.
sql:  one transaction of INSERT ... ON CONFLICT (id) DO NOTHING, then the id sequence is moved
      past the explicit ids; an id the database holds with another definition stops it, and
      nothing is applied. Run with psql -v ON_ERROR_STOP=1 -f FILE.
json: a list of rows, which --file reads back.
${DEFINITION_HELP}

Examples:
  $ sparctl strategy export --format helm > spar-strategies.yaml
  $ sparctl strategy export --format sql 6 7 | psql "$DATABASE_URL" -v ON_ERROR_STOP=1
  $ sparctl strategy export --format json --file strategies.yaml`;
