import type { BankFa } from '../../src/core/model.js';

/** A strategy-2 bank FA at Example Bank, Main branch, with the given account number. */
export const bank = (account: string, overrides: Partial<BankFa> = {}): BankFa => ({
  strategy_id: 2,
  fa_type: 'BANK',
  bank_name: 'Example Bank',
  bank_code: 'EXB',
  branch_name: 'Main',
  branch_code: '0001',
  account_number: account,
  ...overrides,
});

/** The same FA as link/update flags: a strategy-2 bank FA at Example Bank, Main branch. */
export const bankFlags = (account: string): string[] => [
  ...['--fa-type', 'BANK', '--bank-name', 'Example Bank', '--bank-code', 'EXB'],
  ...['--branch-name', 'Main', '--branch-code', '0001', '--account-number', account],
];
