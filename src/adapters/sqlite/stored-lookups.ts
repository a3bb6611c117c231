import type Database from 'better-sqlite3';
import { prepare } from './retained.js';
import { rowDigestOf, type RowTexts } from './row-digest.js';

/** IDs looked up per statement: one look-up per statement costs twice as much in all. */
const LOOKUPS_PER_STATEMENT = 100;

/** A linked ID's stored row: [id, FA string, additional_info text, name, phone]. */
export type StoredRow = [id: string, fa: string, additionalInfo: string | null, name: string | null, phone: string | null];

/** What `read` found: the IDs (by position in the request) that still hold what their item row wrote, and the stored rows of the other linked IDs. */
export interface StoredLookup {
  readonly sameRow: number[];
  readonly rows: StoredRow[];
}

/**
 * The reading half of the local mapper's storedFas, on the connection it is given (the
 * mapper's own, or the writer thread's), inside the caller's read transaction.
 */
export class StoredLookups {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  /**
   * `itemRows`: the row of the record at hand for each of `ids`, by position. An ID whose
   * source_digest is that row's digest still holds what that input wrote — any other change
   * clears the digest (schema.ts) — and is only named; the stored values of the other linked IDs
   * are read in full. IDs not linked are in neither list. Digests are taken only for IDs stored
   * with one: a new import takes none here.
   */
  read(ids: readonly string[], itemRows?: RowTexts): StoredLookup {
    const sameRow: number[] = [];
    const rows: StoredRow[] = [];
    let rest: readonly string[] = ids;
    if (itemRows !== undefined) {
      // First the digests, two short columns: a re-run of an unchanged file needs nothing more.
      // Built on the first ID found: a new import finds none.
      let position: Map<string, number> | undefined;
      const other: string[] = [];
      for (let from = 0; from < ids.length; from += LOOKUPS_PER_STATEMENT) {
        const group = ids.slice(from, from + LOOKUPS_PER_STATEMENT);
        for (const row of this.lookup('digest', group.length).all(group) as [string, string | null][]) {
          if (position === undefined) {
            position = new Map();
            for (let at = 0; at < ids.length; at++) position.set(ids[at]!, at);
          }
          const at = position.get(row[0])!;
          const text = itemRows.texts[at];
          const context = itemRows.contexts[itemRows.contextOf[at]!];
          if (row[1] !== null && text !== null && text !== undefined && context !== undefined && rowDigestOf(context, text) === row[1])
            sameRow.push(at);
          else other.push(row[0]);
        }
      }
      rest = other;
    }
    for (let from = 0; from < rest.length; from += LOOKUPS_PER_STATEMENT) {
      const group = rest.slice(from, from + LOOKUPS_PER_STATEMENT);
      for (const row of this.lookup('stored', group.length).all(group) as StoredRow[]) rows.push(row);
    }
    return { sameRow, rows };
  }

  /** The look-up of `count` IDs in one statement, prepared once per size. */
  private lookup(kind: 'stored' | 'digest', count: number): Database.Statement {
    const key = `${kind} ${count}`;
    let statement = this.statements.get(key);
    if (statement === undefined) {
      const columns = kind === 'stored' ? 'id_value, fa_value, additional_info, name, phone' : 'id_value, source_digest';
      statement = prepare(
        this.db,
        `SELECT ${columns} FROM id_fa_mappings WHERE id_value IN (${Array.from({ length: count }, () => '?').join(', ')})`,
      ).raw();
      this.statements.set(key, statement);
    }
    return statement;
  }
}
