import { UsageError } from './errors.js';
import type { DfspData } from './mapping.js';
import { CodeReadings, codeName, unreadableCode } from './dfsp-codes.js';

/**
 * DFSP reference data from a CSV file (`sparctl dfsp import`): one row per bank, branch or
 * wallet provider. Pure: rows in, data or every problem out.
 *
 *   type,code,name,bank_code
 *   BANK,LBP,Land Bank of the Philippines,
 *   BRANCH,0012,Quezon City - Kamuning,LBP
 *   MOBILE_WALLET,GCASH,GCash,
 *   EMAIL_WALLET,PAYPAL,PayPal,
 */

export const DFSP_CSV_COLUMNS = ['type', 'code', 'name', 'bank_code'] as const;
export const DFSP_TYPES = ['BANK', 'BRANCH', 'MOBILE_WALLET', 'EMAIL_WALLET'] as const;
const TYPES = DFSP_TYPES;
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;
// The words `dfsp list` shows, so that its CSV (`-o csv`) is read back as written.
const LISTED_TYPES: ReadonlyMap<string, string> = new Map([
  ['MOBILE WALLET', 'MOBILE_WALLET'],
  ['E-MAIL WALLET', 'EMAIL_WALLET'],
]);

/** One entry of the DFSP list, as `dfsp remove` names it. */
export type DfspEntry =
  | { readonly kind: 'bank'; readonly code: string }
  | { readonly kind: 'branch'; readonly code: string; readonly bankCode: string }
  | { readonly kind: 'wallet'; readonly code: string; readonly walletType: 'MOBILE_WALLET' | 'EMAIL_WALLET' };

/**
 * What a removal found: nothing (no such entry in the list), or the entry's name and, for a
 * bank, its branches still listed — removed with it when they were named to go, else the reason
 * nothing was removed.
 */
export type DfspRemoval = { readonly found: false } | { readonly found: true; readonly name: string; readonly branches: readonly string[] };

/** A row's type as the file gives it, in either spelling (`MOBILE_WALLET`, or `mobile wallet` as `dfsp list` shows it). */
export function dfspTypeOf(text: string): string {
  const upper = text.toUpperCase();
  return LISTED_TYPES.get(upper) ?? upper;
}

export function dfspFromRows(
  rows: readonly { line: number; record: Readonly<Record<string, unknown>> }[],
  file: string,
  known: DfspData = { banks: [], branches: [], wallet_providers: [] },
): DfspData {
  const problems: string[] = [];
  const data: { banks: DfspData['banks']; branches: DfspData['branches']; wallet_providers: DfspData['wallet_providers'] } = {
    banks: [],
    branches: [],
    wallet_providers: [],
  };
  const seen = new Map<string, number>();
  // Codes as a person reads them, the ones already known first.
  const readings = new CodeReadings();
  for (const bank of known.banks) readings.hold('bank', '', bank.code);
  for (const branch of known.branches) readings.hold('branch', branch.bank_code, branch.code);
  for (const wallet of known.wallet_providers) readings.hold('wallet provider', wallet.wallet_type, wallet.code);
  const cell = (record: Readonly<Record<string, unknown>>, field: string) =>
    typeof record[field] === 'string' ? (record[field] as string).trim() : '';
  for (const { line, record } of rows) {
    const at = (field: string) => `${file}:${line}: ${field}`;
    const type = dfspTypeOf(cell(record, 'type'));
    const code = cell(record, 'code');
    const name = cell(record, 'name');
    const bankCode = cell(record, 'bank_code');
    const before = problems.length;
    if (!(TYPES as readonly string[]).includes(type))
      problems.push(`${at('type')}: must be one of ${TYPES.join(', ')}, got "${cell(record, 'type')}"`);
    if (code === '') problems.push(`${at('code')}: is empty`);
    if (name === '') problems.push(`${at('name')}: is empty`);
    for (const [field, value] of [
      ['code', code],
      ['name', name],
      ['bank_code', bankCode],
    ] as const) {
      if (CONTROL.test(value)) problems.push(`${at(field)}: contains a control character`);
    }
    for (const [field, value] of [
      ['code', code],
      ['bank_code', bankCode],
    ] as const) {
      const unreadable = unreadableCode(value);
      if (unreadable !== undefined) problems.push(`${at(field)}: "${value}" ${unreadable}`);
    }
    if (code.length > 50) problems.push(`${at('code')}: is longer than 50 characters (SPAR's column limit)`);
    if (name.length > 255) problems.push(`${at('name')}: is longer than 255 characters`);
    if (type === 'BRANCH' && bankCode === '') problems.push(`${at('bank_code')}: a branch needs the code of its bank`);
    if (type !== 'BRANCH' && type !== '' && bankCode !== '' && (TYPES as readonly string[]).includes(type))
      problems.push(`${at('bank_code')}: only a branch has a bank_code`);
    if (problems.length > before) continue;
    const key = type === 'BRANCH' ? `BRANCH ${bankCode} ${code}` : `${type} ${code}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      problems.push(`${at('code')}: ${type.toLowerCase().replace('_', ' ')} "${code}" is already on line ${earlier}`);
      continue;
    }
    seen.set(key, line);
    const kind = type === 'BANK' ? 'bank' : type === 'BRANCH' ? 'branch' : 'wallet provider';
    const scope = type === 'BRANCH' ? bankCode : kind === 'bank' ? '' : type;
    const lookalike = readings.read(kind, scope, code, `line ${line}`);
    if (lookalike !== undefined) {
      problems.push(
        `${at('code')}: ${codeName(kind, scope, code)} and ${codeName(kind, lookalike.scope, lookalike.code)} (${lookalike.where}) differ only in letter case or character form: an input that meant one would reach the other; keep one code`,
      );
      continue;
    }
    if (type === 'BANK') data.banks.push({ code, name });
    else if (type === 'BRANCH') data.branches.push({ bank_code: bankCode, code, name });
    else data.wallet_providers.push({ code, name, wallet_type: type as 'MOBILE_WALLET' | 'EMAIL_WALLET' });
  }
  // SPAR names a branch BANK-BRANCH, and the name is unique over all branches: codes with a
  // hyphen can give two branches one name (branch C of bank A-B, branch B-C of bank A: both
  // A-B-C), which the mapper's database refuses when the second is written.
  const named = new Map<string, { bank: string; code: string; where: string }>();
  for (const branch of known.branches)
    named.set(`${branch.bank_code}-${branch.code}`, { bank: branch.bank_code, code: branch.code, where: 'already known' });
  for (const branch of data.branches) {
    const name = `${branch.bank_code}-${branch.code}`;
    const line = seen.get(`BRANCH ${branch.bank_code} ${branch.code}`);
    const other = named.get(name);
    if (other !== undefined && (other.bank !== branch.bank_code || other.code !== branch.code))
      problems.push(
        `${file}:${line}: code: branch "${branch.code}" of bank "${branch.bank_code}" and branch "${other.code}" of bank "${other.bank}" (${other.where}) would both be named ${name} in SPAR, where branch names are unique; change one of the codes`,
      );
    else named.set(name, { bank: branch.bank_code, code: branch.code, where: `line ${line}` });
  }
  const banks = new Set([...known.banks, ...data.banks].map((bank) => bank.code));
  for (const { line, record } of rows) {
    if (dfspTypeOf(cell(record, 'type')) !== 'BRANCH') continue;
    const bankCode = cell(record, 'bank_code');
    if (bankCode !== '' && !banks.has(bankCode))
      problems.push(`${file}:${line}: bank_code: bank "${bankCode}" is neither in this file nor already known`);
  }
  if (problems.length > 0) {
    throw new UsageError(
      'dfsp.invalid',
      `${problems.slice(0, 20).join('; ')}${problems.length > 20 ? `; and ${problems.length - 20} more` : ''}; nothing was imported`,
      {
        hint: `the CSV columns are ${DFSP_CSV_COLUMNS.join(', ')} (bank_code only for branches)`,
      },
    );
  }
  return data;
}
