import { hash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { prepare } from './retained.js';
import { rowDigestOf } from './row-digest.js';

/** Rows per multi-row statement: past a few dozen the gain is gone (and SQLite caps parameters). */
const ROWS_PER_STATEMENT = 50;

/**
 * One checked row of a link request: [id, FA string, name, phone, additional_info text, origin
 * (for the audit source), item row text, number of its context in the request's contexts].
 */
export type LinkRow = readonly [
  id: string,
  fa: string,
  name: string | null,
  phone: string | null,
  additionalInfo: string,
  origin: string | null,
  rowText: string | null,
  rowContext: number,
];

/** What all rows of a link request share: the audit source (each row's origin follows it) and the digests of its item rows' contexts. */
export interface LinkRequest {
  readonly source: string;
  readonly contexts: readonly string[];
}

// One-shot hashing (Node ≥ 20.12): no Hash object per audited change.
export const sha256 = (text: string) => hash('sha256', text, 'hex');

/**
 * The writing half of a link request, inside the caller's transaction: inserts the rows that
 * are not linked yet and audits them. Returns `true` when every row went in, or else which rows
 * did (false: the ID was linked already, or given again by an earlier row of the request).
 */
export class LinkWrites {
  private readonly statements = new Map<string, Database.Statement>();
  private readonly insertedSince: Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.insertedSince = prepare(db, 'SELECT id_value FROM id_fa_mappings WHERE id > ?').pluck();
  }

  write(rows: readonly LinkRow[], now: string, request: LinkRequest): true | boolean[] {
    // Rows go in by the dozen: one statement per row costs more than the B-tree work. INSERT
    // OR IGNORE skips IDs already linked; when it skipped any, the rows it did insert are
    // those past the rowid it started from (a new row gets the largest rowid + 1, and this
    // transaction is the only writer). Asking every statement for them (RETURNING) costs a
    // third of the insert, for the rare request that holds linked IDs.
    let inserted: Set<string> | undefined;
    for (let from = 0; from < rows.length; from += ROWS_PER_STATEMENT) {
      const to = Math.min(rows.length, from + ROWS_PER_STATEMENT);
      const values: unknown[] = [];
      for (let at = from; at < to; at++) {
        const row = rows[at]!;
        values.push(
          row[0],
          row[1],
          row[2],
          row[3],
          row[4],
          now,
          now,
          row[6] === null ? null : rowDigestOf(request.contexts[row[7]]!, row[6]),
        );
      }
      const { changes, lastInsertRowid } = this.multiRow('insert', to - from).run(values);
      if (changes === to - from) {
        if (inserted !== undefined) for (let at = from; at < to; at++) inserted.add(rows[at]![0]);
        continue;
      }
      inserted ??= new Set(rows.slice(0, from).map((row) => row[0]));
      if (changes > 0) for (const id of this.insertedSince.all(Number(lastInsertRowid) - changes) as string[]) inserted.add(id);
    }
    if (inserted === undefined) {
      // Every row went in, so no ID was linked already or given twice.
      this.audit(rows, now, request);
      return true;
    }
    const linkedHere = new Set<string>();
    const linked = rows.map((row) => {
      if (!inserted.has(row[0]) || linkedHere.has(row[0])) return false;
      linkedHere.add(row[0]);
      return true;
    });
    this.audit(
      rows.filter((_, at) => linked[at]),
      now,
      request,
    );
    return linked;
  }

  private audit(rows: readonly LinkRow[], now: string, request: LinkRequest): void {
    for (let from = 0; from < rows.length; from += ROWS_PER_STATEMENT) {
      const to = Math.min(rows.length, from + ROWS_PER_STATEMENT);
      const values: unknown[] = [];
      for (let at = from; at < to; at++) {
        const row = rows[at]!;
        values.push(now, 'link', row[0], null, sha256(row[1]), row[5] ? `${request.source} ${row[5]}` : request.source);
      }
      this.multiRow('audit', to - from).run(values);
    }
  }

  /** The multi-row form of a statement for `rows` rows, prepared once per size. */
  private multiRow(kind: 'insert' | 'audit', rows: number): Database.Statement {
    const key = `${kind} ${rows}`;
    let statement = this.statements.get(key);
    if (statement === undefined) {
      const sql =
        kind === 'insert'
          ? `INSERT OR IGNORE INTO id_fa_mappings (id_value, fa_value, name, phone, additional_info, active, created_at, updated_at, source_digest)
             VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, 1, ?, ?, ?)').join(', ')}`
          : `INSERT INTO audit_log (at, operation, id_value, old_fa_hash, new_fa_hash, source)
             VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?)').join(', ')}`;
      statement = prepare(this.db, sql);
      this.statements.set(key, statement);
    }
    return statement;
  }
}
