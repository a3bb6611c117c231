import type { Operation } from '../../core/results.js';
import { RECORD_FIELDS } from '../../core/vocabulary.js';

/** The help texts of `link`, `update`, `resolve`, `unlink` and the flags of one record's FA. */

/** Flags of a single record: the flag, the record field it fills, commander's option key. */
export const FA_FLAGS = [
  ['--bank-name <name>', 'bank_name', 'bankName'],
  ['--bank-code <code>', 'bank_code', 'bankCode'],
  ['--branch-name <name>', 'branch_name', 'branchName'],
  ['--branch-code <code>', 'branch_code', 'branchCode'],
  ['--account-number <number>', 'account_number', 'accountNumber'],
  ['--wallet-provider-name <name>', 'wallet_provider_name', 'walletProviderName'],
  ['--wallet-provider-code <code>', 'wallet_provider_code', 'walletProviderCode'],
  ['--mobile-number <number>', 'mobile_number', 'mobileNumber'],
  ['--email-address <email>', 'email_address', 'emailAddress'],
] as const;

export const DESCRIPTIONS: Record<Operation, string> = {
  link: 'link beneficiary IDs to financial addresses (one from flags, or many from --file)',
  update: "replace linked beneficiaries' financial addresses (one from flags, or many from --file)",
  resolve: 'look up the financial address linked to beneficiary IDs',
  unlink: 'remove the link between beneficiary IDs and their financial addresses',
};

const EXAMPLES: Record<Operation, string> = {
  link: `
Examples:
  $ sparctl link --id BENE_0001 --fa-type BANK --bank-name "Example Bank" --bank-code EXB \\
      --branch-name Main --branch-code 0001 --account-number 0012345678 --name "Maria Santos"
  $ sparctl link --id BENE_0002 --fa '{"fa_type":"MOBILE_WALLET","wallet_provider_name":"Pink Wallet","wallet_provider_code":"PINK","mobile_number":"+639171234567"}'
  $ sparctl link --file fixtures/beneficiaries.csv
  $ cat records.jsonl | sparctl link --file - --output json`,
  update: `
Examples:
  $ sparctl update --id BENE_0001 --fa-type BANK --bank-name "Example Bank" --bank-code EXB \\
      --branch-name North --branch-code 0002 --account-number 0098765432
  $ sparctl update --file corrections.csv --output csv > results.csv`,
  resolve: `
Examples:
  $ sparctl resolve --id BENE_0001
  $ sparctl resolve BENE_0001 BENE_0002 --scope yes_no --output json
  $ sparctl resolve --file fixtures/beneficiaries.csv --output csv > current.csv`,
  unlink: `
Examples:
  $ sparctl unlink --id BENE_0001 --yes
  $ sparctl unlink --file leavers.csv --yes --output jsonl`,
};

const COLUMNS_HELP = `
Input files: CSV with a header row, or JSONL (one object per line); "-" reads stdin.
Columns (CSV) or keys (JSONL): ${RECORD_FIELDS.join(', ')}.
Empty cells count as absent. strategy_id defaults to --strategy, else 2 (BANK), 4 (MOBILE_WALLET), 3 (EMAIL_WALLET).
phone_number is the beneficiary's contact phone; mobile_number is the payment wallet's number.`;

/** The text after the options: examples, then the input columns. */
export function recordsHelp(operation: Operation): string {
  const columns =
    operation === 'resolve' || operation === 'unlink'
      ? COLUMNS_HELP.replace('Columns', 'Only "id" is used; other known columns are ignored. Columns')
      : COLUMNS_HELP;
  return `${EXAMPLES[operation]}\n${columns}`;
}
