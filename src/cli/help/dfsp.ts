/** The help texts after `dfsp list`, `dfsp import` and `dfsp remove`'s options. */

export const LIST_HELP = `
Examples:
  $ sparctl dfsp list
  $ sparctl dfsp list --type branches --bank LBP
  $ sparctl --profile staging dfsp list --search pay -o json`;

export const IMPORT_HELP = `
The file is checked whole first: any bad row (its line and field named) means nothing is
imported. New codes are added, known ones renamed when the name changed. import-csv, import-odk
and fa edit then fill names from these codes when no --dfsp file is given.

  type,code,name,bank_code
  BANK,LBP,Land Bank of the Philippines,
  BRANCH,0012,Quezon City - Kamuning,LBP
  MOBILE_WALLET,GCASH,GCash,

Examples:
  $ sparctl dfsp import dfsp.csv
  $ sparctl --db field.db dfsp import fixtures/dfsp.json`;

export const REMOVE_HELP = `
Imports and fa edit then refuse the code, as one the list never held (a list left empty
checks none; remove says so). FAs already linked with it are not changed, and a run
already under way keeps the list it read. The entry is kept inactive, as SPAR keeps one:
importing it again brings it back.

Examples:
  $ sparctl dfsp remove BRANCH 0013 --bank LBP
  $ sparctl dfsp remove BANK LPB --with-branches --dry-run
  $ sparctl --db field.db dfsp remove MOBILE_WALLET GCSH`;
