import type { OutputFormat } from '../config/constants.js';

/**
 * The JSON documents commands print with `-o json`: one shape, versioned in one place. A change
 * to a document's fields that can break a reader bumps SCHEMA_VERSION (CHANGELOG "Versioning").
 */
export const SCHEMA_VERSION = 1;

/** `{"schemaVersion": 1, …fields}`, indented, with a final newline. */
export function jsonDocument(fields: Readonly<Record<string, unknown>>): string {
  return `${JSON.stringify({ schemaVersion: SCHEMA_VERSION, ...fields }, null, 2)}\n`;
}

export interface ErrorFields {
  readonly code: string;
  readonly message: string;
  readonly hint: string | undefined;
  readonly exitCode: number;
}

/**
 * A failed command's answer on stdout for a reader of `-o json` (a document) or `-o jsonl` (one
 * line): `{"error": {code, message, hint, exitCode}}`; undefined for formats a program does not parse.
 */
/** The `{"error": …}` object of a failure, as -o json and jsonl give it. */
export function errorFields(error: ErrorFields): { error: { code: string; message: string; hint: string | null; exitCode: number } } {
  return { error: { code: error.code, message: error.message, hint: error.hint ?? null, exitCode: error.exitCode } };
}

export function errorDocument(format: OutputFormat | undefined, error: ErrorFields): string | undefined {
  const fields = errorFields(error);
  if (format === 'json') return jsonDocument(fields);
  if (format === 'jsonl') return `${JSON.stringify(fields)}\n`;
  return undefined;
}
