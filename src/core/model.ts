import type { z } from 'zod';
import { lazySchema, type Zod } from './schema-library.js';
import { FA_TYPES } from './vocabulary.js';

/**
 * Domain model shared by every mapper and command. Field names follow the SPAR v2 wire contract
 * (research/spar-api.md §3–§4) so that local and remote results read the same.
 */

// Control characters have no business in an ID or an FA field, and a stray CR or LF from a
// spreadsheet would silently change what the strategy regex reads back.
// The patterns and limits below are exported for the hand-written fast checks in records.ts,
// which may only accept what these schemas accept: one source, so the two cannot drift.
// Half a surrogate pair (\ud800 in JSON) too: no character, and stored it is invalid UTF-8.
export const NO_CONTROL_CHARS = /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029\ud800-\udfff]*$/u;

const text = (z: Zod, what: string) =>
  z
    .string({ error: (issue) => (issue.input === undefined ? `${what} is missing` : `${what} must be a string`) })
    .regex(NO_CONTROL_CHARS, { error: `${what} contains a control character` });

const required = (z: Zod, what: string) => text(z, what).min(1, { error: `${what} is empty` });

export const ID_MAX_LENGTH = 512;
export const NAME_MAX_LENGTH = 255;
export const PHONE_MAX_LENGTH = 32;
export const STRATEGY_ID_MAX = 2_147_483_647;

export { FA_TYPES, FA_FIELDS, DEFAULT_STRATEGY_FOR, RESOLVE_SCOPES, type FaType, type ResolveScope } from './vocabulary.js';

// The payment mobile number (part of the FA, where money goes) — not the beneficiary's
// communication phone, which is the record's phone_number.
export const PAYMENT_MOBILE = /^\+?[0-9]{6,15}$/;
export const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/u;
/** The beneficiary's communication phone: free text as SPAR stores it (e.g. "+63 900 000 0001"). */
export const COMMUNICATION_PHONE = /^\+?[0-9 ()-]*$/;

function buildRecordSchemas(z: Zod) {
  /** A beneficiary ID: always a string, leading zeros kept. */
  const id = required(z, 'id').max(ID_MAX_LENGTH, { error: `id is longer than ${ID_MAX_LENGTH} characters` });
  const strategyId = z
    .number({ error: 'strategy_id must be a number' })
    .int({ error: 'strategy_id must be a whole number' })
    .positive({ error: 'strategy_id must be positive' })
    .max(STRATEGY_ID_MAX, { error: 'strategy_id is too large' });
  const bankFa = z.strictObject({
    strategy_id: strategyId,
    fa_type: z.literal('BANK'),
    bank_name: required(z, 'bank_name'),
    bank_code: required(z, 'bank_code'),
    branch_name: required(z, 'branch_name'),
    branch_code: required(z, 'branch_code'),
    account_number: required(z, 'account_number'),
  });
  const mobileWalletFa = z.strictObject({
    strategy_id: strategyId,
    fa_type: z.literal('MOBILE_WALLET'),
    wallet_provider_name: required(z, 'wallet_provider_name'),
    wallet_provider_code: required(z, 'wallet_provider_code'),
    mobile_number: required(z, 'mobile_number').regex(PAYMENT_MOBILE, {
      error: 'mobile_number must be digits with an optional leading + (6 to 15 digits), e.g. +639171234567',
    }),
  });
  const emailWalletFa = z.strictObject({
    strategy_id: strategyId,
    fa_type: z.literal('EMAIL_WALLET'),
    wallet_provider_name: required(z, 'wallet_provider_name'),
    wallet_provider_code: required(z, 'wallet_provider_code'),
    email_address: required(z, 'email_address').regex(EMAIL, { error: 'email_address is not an e-mail address' }),
  });
  const financialAddress = z.discriminatedUnion('fa_type', [bankFa, mobileWalletFa, emailWalletFa], {
    error: (issue) => (issue.code === 'invalid_union' ? `fa_type must be one of ${FA_TYPES.join(', ')}` : undefined),
  });
  const name = text(z, 'name').max(NAME_MAX_LENGTH, { error: `name is longer than ${NAME_MAX_LENGTH} characters` });
  const phone = text(z, 'phone_number')
    .max(PHONE_MAX_LENGTH, { error: `phone_number is longer than ${PHONE_MAX_LENGTH} characters` })
    .regex(COMMUNICATION_PHONE, { error: 'phone_number may hold only digits, spaces, ( ) - and a leading +' });
  const additionalInfo = z.array(z.record(z.string(), z.unknown()), { error: 'additional_info must be a list of objects' });
  /** One link or update: the ID and where its money goes. */
  const mapping = z.strictObject({
    id,
    fa: financialAddress,
    name: name.optional(),
    phone_number: phone.optional(),
    additional_info: additionalInfo.optional(),
  });
  return { id, strategyId, bankFa, mobileWalletFa, emailWalletFa, financialAddress, name, phone, additionalInfo, mapping };
}

/** The schemas of a record's fields, built (and zod loaded) at their first use. */
export const recordSchemas = lazySchema(buildRecordSchemas);
type RecordSchemas = ReturnType<typeof buildRecordSchemas>;

export type BankFa = z.infer<RecordSchemas['bankFa']>;
export type MobileWalletFa = z.infer<RecordSchemas['mobileWalletFa']>;
export type EmailWalletFa = z.infer<RecordSchemas['emailWalletFa']>;
export type FinancialAddress = z.infer<RecordSchemas['financialAddress']>;
export type Mapping = z.infer<RecordSchemas['mapping']>;

/** One zod issue as the field it concerns and a message a person can act on. */
export function describeIssue(issue: z.core.$ZodIssue): { path: string; message: string } {
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const message = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
    return { path: path ? `${path}.${issue.keys[0]}` : issue.keys[0]!, message };
  }
  return { path, message: issue.message };
}

/** Turns zod issues into one line per problem: "fa.account_number: account_number is empty". */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const { path, message } = describeIssue(issue);
    return path ? `${path}: ${message}` : message;
  });
}
