/**
 * The JSON documents commands print with `-o json`: one shape, versioned in one place. A change
 * to a document's fields that can break a reader bumps SCHEMA_VERSION (CHANGELOG "Versioning").
 */
export const SCHEMA_VERSION = 1;

/** `{"schemaVersion": 1, …fields}`, indented, with a final newline. */
export function jsonDocument(fields: Readonly<Record<string, unknown>>): string {
  return `${JSON.stringify({ schemaVersion: SCHEMA_VERSION, ...fields }, null, 2)}\n`;
}
