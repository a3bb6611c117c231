/**
 * The words of the domain, free of any library: cheap to load, so that `sparctl --help` does not
 * pay for zod schemas it never uses. model.ts and records.ts build on these.
 */

export const FA_TYPES = ['BANK', 'MOBILE_WALLET', 'EMAIL_WALLET'] as const;
export type FaType = (typeof FA_TYPES)[number];

/** The FA fields each kind carries besides strategy_id and fa_type, in SPAR's order. */
export const FA_FIELDS: Readonly<Record<FaType, readonly string[]>> = {
  BANK: ['bank_name', 'bank_code', 'branch_name', 'branch_code', 'account_number'],
  MOBILE_WALLET: ['wallet_provider_name', 'wallet_provider_code', 'mobile_number'],
  EMAIL_WALLET: ['wallet_provider_name', 'wallet_provider_code', 'email_address'],
};

/** The default strategy for each FA kind (research §8.2: 2 bank, 4 phone, 3 email). */
export const DEFAULT_STRATEGY_FOR: Readonly<Record<FaType, number>> = {
  BANK: 2,
  MOBILE_WALLET: 4,
  EMAIL_WALLET: 3,
};

export const RESOLVE_SCOPES = ['yes_no', 'details'] as const;
export type ResolveScope = (typeof RESOLVE_SCOPES)[number];

/** What a row of an import does (a mapping's `operation`). */
export const IMPORT_OPERATIONS = ['link', 'update', 'unlink', 'upsert'] as const;
export type ImportOperation = (typeof IMPORT_OPERATIONS)[number];

/** FA names a DFSP list can fill from codes, so a mapping may leave them out. */
export const DFSP_NAME_FIELDS: ReadonlySet<string> = new Set(['bank_name', 'branch_name', 'wallet_provider_name']);

/** Every FA value field of any kind. */
export const FA_VALUE_FIELDS: readonly string[] = [...new Set(Object.values(FA_FIELDS).flat())];

/** Every field an input record may carry. Anything else is a typo worth stopping for. */
export const RECORD_FIELDS: readonly string[] = [
  'id',
  'strategy_id',
  'fa_type',
  ...FA_VALUE_FIELDS,
  'fa',
  'name',
  'phone_number',
  'additional_info',
];

/** The column of a record file that names each row's own operation (link, update, unlink, upsert). */
export const OPERATION_COLUMN = 'operation';
