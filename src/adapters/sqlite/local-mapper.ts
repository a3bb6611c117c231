import { existsSync, statSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { ConfigError, ExitCode, SparctlError, StrategyError } from '../../core/errors.js';
import { describeFailure, duringRunError, environmentCode, isCorrupt, ownerOnlyDatabaseFile, ownerOnlyFile } from '../files/fs-errors.js';
import {
  SAME_ROW,
  type ItemRow,
  type LinkItem,
  type Mapper,
  type MapperCallContext,
  type ResolveItem,
  type StoredFa,
  type UnlinkItem,
  type UpdateItem,
} from '../../core/mapper.js';
import { ReasonCode, ReasonMessage, type ItemResult } from '../../core/results.js';
import { buildCheckedFa, compileStrategy, deconstructFa, type Strategy, type StrategyRow } from '../../core/strategy/strategy.js';
import { freeStrategyId, strategyIdTaken } from '../../core/strategy/declared.js';
import { LinkWrites, sha256, type LinkRow } from './link-writes.js';
import type { LinkWriterThread } from './link-writer.js';
import { assertSqliteLoads, closeDatabase, makeDurable, openDatabase, prepare, setPragma } from './retained.js';
import {
  assertMapperFile,
  BUSY_TIMEOUT_MS,
  lockedError,
  migrate,
  noMapperError,
  refuseNewerSchema,
  schemaVersion,
  unusableError,
} from './schema.js';
import { StoredLookups } from './stored-lookups.js';
import { digestOfRow, ContextDigests, type RowTexts } from './row-digest.js';

interface MappingRow {
  id: number;
  id_value: string;
  fa_value: string;
  name: string | null;
  phone: string | null;
  additional_info: string | null;
}

interface StrategyDbRow extends Omit<StrategyRow, 'active'> {
  active: number;
}

type Operation = 'link' | 'update' | 'unlink';

/**
 * The embedded mapper: SPAR v2 semantics on a local SQLite file (research/spar-api.md §6).
 *
 * Where SPAR is unsound this mapper is not:
 * - the same ID twice in one link request: SPAR fails the whole request with
 *   `rjct.internal.error` and inserts nothing; here only the later item is rejected
 *   (`rjct.reference_id.duplicate`), the first is linked;
 * - an unknown strategy or an FA the strategy cannot build: SPAR fails the whole request;
 *   here only that item is rejected (`rjct.fa.invalid`), with the reason;
 * - an FA whose values would not read back through the strategy's regex (a value containing
 *   the next label) is rejected instead of stored wrongly;
 * - update and unlink are atomic per request (SPAR commits update item by item).
 * Every change writes an audit_log row in the same transaction.
 */
export class LocalMapper implements Mapper {
  readonly target: string;
  readonly instanceId: string;
  /** This open made the mapper's tables (the file held none): the one of several openers of a new file that created it. */
  readonly made: boolean;
  private readonly db: Database.Database;
  private readonly strategyCache = new Map<number, Strategy | StrategyError>();
  private readonly statements: Statements;
  private readonly linkWrites: LinkWrites;
  private readonly storedLookups: StoredLookups;
  private writerThread: LinkWriterThread | undefined;
  /** The file opened (device and inode): close() tells when another has taken its path meanwhile. */
  private readonly opened: { readonly dev: number; readonly ino: number } | undefined;

  private constructor(
    readonly path: string,
    describedAs?: string,
    readonly readOnly = false,
  ) {
    this.target = `local ${describedAs ?? path}`;
    this.db = openDatabase(path, readOnly ? { readonly: true, fileMustExist: true } : undefined);
    try {
      this.opened = path === ':memory:' ? undefined : fileIdentity(path);
      setPragma(this.db, `busy_timeout = ${BUSY_TIMEOUT_MS}`);
      // A newer sparctl's file is refused before the journal mode below changes its header.
      refuseNewerSchema(schemaVersion(this.db), path);
      if (!readOnly) {
        makeDurable(this.db, BUSY_TIMEOUT_MS);
      }
      this.made = migrate(this.db, path, readOnly);
      this.statements = prepareStatements(this.db);
      this.linkWrites = new LinkWrites(this.db);
      this.storedLookups = new StoredLookups(this.db);
      this.instanceId = prepare(this.db, "SELECT value FROM sparctl_meta WHERE key = 'instance_id'").pluck().get() as string;
    } catch (error) {
      // A file refused (too new, a dry run's needs_upgrade) is closed, not left open: a read-only
      // connection leaves the -wal and -shm it had made until closeDatabase removes them.
      closeDatabase(this.db);
      throw error;
    }
  }

  /**
   * Opens the mapper database at `path`, making it there when the path holds none yet (missing,
   * an empty file, an SQLite file without tables) — unless `create` is false: then such a path is
   * refused (`local.no_mapper`), since whether a command may make a mapper is its caller's rule.
   * `:memory:` is an empty mapper that is never written to disk; `describedAs` then names what it
   * stands for. `readOnly` (dry runs) opens an existing file without writing to it at all: every
   * write is refused by SQLite; a path with no mapper yet is stood in for by an empty one in memory.
   */
  static open(path: string, describedAs?: string, options: { readOnly?: boolean; create?: boolean } = {}): LocalMapper {
    try {
      assertSqliteLoads();
      const noMapper = assertMapperFile(path);
      if (noMapper !== undefined && options.create === false) throw noMapperError(path, noMapper);
      if (noMapper !== undefined && options.readOnly) return new LocalMapper(':memory:', describedAs ?? `${path} (no mapper in it yet)`);
      if (options.readOnly && path !== ':memory:') return new LocalMapper(path, describedAs, true);
      if (path !== ':memory:') {
        // The file holds beneficiaries' account numbers. SQLite gives a -wal or -shm it creates
        // the database's mode; one left by an earlier run is made 0600 too.
        ownerOnlyDatabaseFile(path);
        for (const suffix of ['-wal', '-shm']) if (existsSync(`${path}${suffix}`)) ownerOnlyFile(`${path}${suffix}`);
      }
      return new LocalMapper(path, describedAs);
    } catch (error) {
      if (error instanceof SparctlError) throw error;
      if (environmentCode(error) !== undefined && !isCorrupt(error)) {
        const during = duringRunError(path, 'cannot open the local mapper database', error);
        if (during instanceof SparctlError && during.code === 'disk.full') throw during;
      }
      const unusable = unusableError(path, error);
      if (unusable instanceof SparctlError) throw unusable;
      throw new ConfigError(
        'local.db_unusable',
        `cannot open the local mapper database ${path}: ${error instanceof Error ? error.message : String(error)}`,
        { hint: 'check the path and its permissions, or choose another file with --db', cause: error },
      );
    }
  }

  /**
   * From now on, link writes run on a second thread (link-writer.ts) when the compiled program
   * can start one; checks stay here. For bulk runs and serve: a lone link gains nothing from it.
   */
  async writeLinksOnThread(threadFile?: URL): Promise<boolean> {
    if (this.writerThread !== undefined) return true;
    if (this.path === ':memory:' || this.readOnly) return false;
    const { LinkWriterThread, linkWriterThreadAvailable } = await import('./link-writer.js');
    if (!linkWriterThreadAvailable(threadFile)) return false;
    this.writerThread = new LinkWriterThread(this.path, threadFile);
    return true;
  }

  async link(items: readonly LinkItem[], context: MapperCallContext): Promise<ItemResult[]> {
    // One time for the whole request: it is one transaction.
    const now = new Date().toISOString();
    const results: ItemResult[] = new Array<ItemResult>(items.length);
    const accepted: { at: number; item: LinkItem; fa: string }[] = [];
    items.forEach((item, at) => {
      if (!item.id) {
        results[at] = reject(item, ReasonCode.idInvalid, ReasonMessage.idNull);
        return;
      }
      const built = this.buildFa(item);
      if (typeof built !== 'string') results[at] = built;
      else accepted.push({ at, item, fa: built });
    });
    if (accepted.length === 0) return results;
    const contexts = new ContextDigests();
    const rows = accepted.map(({ item, fa }): LinkRow => {
      const itemRow = item.row;
      return [
        item.id,
        fa,
        item.name || null,
        item.phone_number || null,
        additionalInfoText(item),
        item.origin || null,
        itemRow === undefined ? null : itemRow.text,
        itemRow === undefined ? -1 : contexts.numberOf(itemRow),
      ];
    });
    const request = { source: context.source, contexts: contexts.digests };
    const written =
      this.writerThread !== undefined
        ? await this.writerThread.write(rows, now, request)
        : this.db.transaction(() => this.linkWrites.write(rows, now, request)).immediate();
    accepted.forEach(({ at, item, fa }, index) => {
      if (written === true || written[index]) {
        results[at] = linked(item, fa);
        return;
      }
      const linkedEarlier = accepted.some((other, before) => before < index && other.item.id === item.id && (written[before] ?? false));
      const message = linkedEarlier ? 'ID appears more than once in this request; an earlier item linked it' : ReasonMessage.alreadyMapped;
      results[at] = { ...reject(item, ReasonCode.referenceIdDuplicate, message), fa };
    });
    return results;
  }

  async update(items: readonly UpdateItem[], context: MapperCallContext): Promise<ItemResult[]> {
    const now = new Date().toISOString();
    return this.db
      .transaction(() =>
        items.map((item): ItemResult => {
          if (!item.id) return reject(item, ReasonCode.idInvalid, ReasonMessage.idNull);
          const built = this.buildFa(item);
          if (typeof built !== 'string') return built;
          const existing = this.findMapping(item.id);
          // SPAR's code for "not found" on update really is rjct.reference_id.duplicate.
          if (!existing) return reject(item, ReasonCode.referenceIdDuplicate, ReasonMessage.notLinked);
          // Compared under the write lock this transaction holds (immediate): another process's
          // update cannot land between this check and the write, as it could between a caller's
          // read and its update (two admins confirming `fa edit` at once both passed that read).
          if (item.expectedFa !== undefined && existing.fa_value !== item.expectedFa)
            return reject(
              item,
              ReasonCode.faChangedSinceRead,
              'the FA stored is no longer the one this update was planned from (another writer changed it); nothing was updated',
            );
          // As in SPAR, name and phone are only overwritten by non-empty values.
          this.statements.update.run(
            built,
            item.name || null,
            item.phone_number || null,
            additionalInfoText(item),
            now,
            item.row === undefined ? null : digestOfRow(item.row),
            existing.id,
          );
          this.audit('update', item, existing.fa_value, built, context, now);
          return success(item);
        }),
      )
      .immediate();
  }

  async unlink(items: readonly UnlinkItem[], context: MapperCallContext): Promise<ItemResult[]> {
    const now = new Date().toISOString();
    return this.db
      .transaction(() =>
        items.map((item): ItemResult => {
          if (!item.id) return reject(item, ReasonCode.idInvalid, ReasonMessage.idNull);
          const existing = this.findMapping(item.id);
          if (!existing) return reject(item, ReasonCode.idInvalid, ReasonMessage.notLinked);
          if (item.fa !== undefined && item.fa !== existing.fa_value) {
            return reject(item, ReasonCode.faInvalid, 'the FA given is not the FA linked to this ID; nothing was unlinked');
          }
          this.statements.delete.run(existing.id);
          this.audit('unlink', item, existing.fa_value, null, context, now);
          return success(item);
        }),
      )
      .immediate();
  }

  async resolve(items: readonly ResolveItem[], _context?: MapperCallContext): Promise<ItemResult[]> {
    // One read transaction for the batch: per-lookup autocommit costs half the throughput.
    return this.db
      .transaction(() =>
        items.map((item): ItemResult => {
          if (!item.id) return reject(item, ReasonCode.referenceIdInvalid, ReasonMessage.idRequired);
          const row = this.findMapping(item.id);
          if (!row) {
            return {
              ...success(item),
              status_reason_code: ReasonCode.faNotLinkedToId,
              status_reason_message: ReasonMessage.resolveNotLinked,
              fa: null,
            };
          }
          const found = { ...success(item), status_reason_code: ReasonCode.idActive };
          if (item.scope === 'yes_no') return { ...found, fa: null };
          const additionalInfo = parseAdditionalInfo(row.additional_info);
          return { ...found, fa: this.deconstruct(row.fa_value, additionalInfo), additional_info: additionalInfo };
        }),
      )
      .deferred();
  }

  /**
   * The stored FA string, strategy, name and phone of each linked ID (IDs not linked are
   * absent): what a bulk upsert compares with the record, without deconstructing every stored FA.
   * An ID whose source_digest is the one given for it is answered SAME_ROW: the row still
   * holds what that input wrote (any other change clears the digest; see schema.ts), so a
   * re-run of an unchanged file reads two short columns per row instead of five. With the
   * writer thread, the thread reads, and this one goes on with the next records meanwhile.
   */
  async storedFas(
    ids: readonly string[],
    _context?: MapperCallContext,
    itemRows?: ReadonlyMap<string, ItemRow>,
  ): Promise<Map<string, StoredFa | typeof SAME_ROW>> {
    let texts: RowTexts | undefined;
    if (itemRows !== undefined && itemRows.size > 0) {
      const contexts = new ContextDigests();
      const of = ids.map((id) => itemRows.get(id));
      texts = {
        contexts: contexts.digests,
        texts: of.map((itemRow) => itemRow?.text ?? null),
        contextOf: of.map((itemRow) => (itemRow === undefined ? -1 : contexts.numberOf(itemRow))),
      };
    }
    // The thread reads only when it has nothing to write: behind a queue of writes the answer
    // would come late, and this thread would wait for it instead of reading itself.
    const { sameRow, rows } =
      this.writerThread !== undefined && !this.writerThread.writing
        ? await this.writerThread.read(ids, texts)
        : this.db.transaction(() => this.storedLookups.read(ids, texts)).deferred();
    const found = new Map<string, StoredFa | typeof SAME_ROW>();
    for (const at of sameRow) found.set(ids[at]!, SAME_ROW);
    for (const row of rows)
      found.set(row[0], { fa: row[1], strategyId: strategyIdOf(row[2]), name: row[3], phone: row[4], additionalInfo: row[2] });
    return found;
  }

  /**
   * Keeps each item row's digest with its ID's mapping, only where it still holds exactly what
   * the caller read and compared (`stored`: FA string, additional_info with the strategy id,
   * name, phone): a change made since the read is never vouched for. Setting the digest alone
   * changes nothing the trigger watches.
   */
  async markRows(
    entries: readonly { readonly id: string; readonly row: ItemRow; readonly stored: StoredFa }[],
    _context?: MapperCallContext,
  ): Promise<void> {
    if (entries.length === 0) return;
    this.db
      .transaction(() => {
        for (const { id, row, stored } of entries) {
          if (stored.additionalInfo === undefined) continue;
          this.statements.setRowDigest.run(
            digestOfRow(row),
            id,
            stored.fa,
            stored.additionalInfo,
            stored.name ?? null,
            stored.phone ?? null,
          );
        }
      })
      .immediate();
  }

  /**
   * The usable strategies. One changed in the database by other means so that it no longer
   * compiles is left out rather than failing every run: records naming it are refused, and
   * `strategy list`/`validate` (strategyRows) show it with its problem.
   */
  async strategies(): Promise<Strategy[]> {
    const usable: Strategy[] = [];
    for (const row of this.statements.allStrategies.all() as StrategyDbRow[]) {
      const compiled = this.strategy(row.id);
      if (!(compiled instanceof StrategyError)) usable.push(compiled);
    }
    return usable;
  }

  async strategyRows(): Promise<StrategyRow[]> {
    return (this.statements.allStrategies.all() as StrategyDbRow[]).map(toStrategyRow);
  }

  /** The strategy with this id, or the reason it cannot be used. */
  strategy(id: number): Strategy | StrategyError {
    const cached = this.strategyCache.get(id);
    if (cached) return cached;
    const row = this.statements.strategy.get(id) as StrategyDbRow | undefined;
    if (!row) return new StrategyError('strategy.unknown', `strategy ${id} does not exist in this mapper`);
    let compiled: Strategy | StrategyError;
    try {
      compiled = compileStrategy(toStrategyRow(row));
    } catch (error) {
      if (!(error instanceof StrategyError)) throw error;
      compiled = error;
    }
    // Strategies are append-only and immutable, so a found row can be cached for good.
    this.strategyCache.set(id, compiled);
    return compiled;
  }

  /**
   * Appends strategies, all or none. Strategies are append-only: a row identical to the stored
   * one is a no-op ("unchanged"); a different row under an existing id is refused before
   * anything is written, since FAs already stored with that id would be read back differently.
   */
  addStrategies(rows: readonly StrategyRow[], options: { dryRun?: boolean } = {}): { id: number; outcome: 'added' | 'unchanged' }[] {
    const dryRun = options.dryRun === true;
    const now = new Date().toISOString();
    const insert = prepare(
      this.db,
      `INSERT INTO strategy (id, strategy_type, construct_strategy, deconstruct_strategy, description, active, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const add = this.db.transaction(() =>
      rows.map((row) => {
        const stored = this.statements.strategy.get(row.id) as StrategyDbRow | undefined;
        if (stored === undefined) {
          if (!dryRun)
            insert.run(
              row.id,
              row.strategy_type,
              row.construct_strategy,
              row.deconstruct_strategy,
              row.description,
              row.active ? 1 : 0,
              now,
              now,
            );
          return { id: row.id, outcome: 'added' as const };
        }
        // A missing description and an empty one are the same (Helm seeds write '').
        const differs = (['strategy_type', 'construct_strategy', 'deconstruct_strategy', 'description', 'active'] as const).filter(
          (column) => (column === 'active' ? (stored.active === 1) !== row.active : (stored[column] ?? '') !== (row[column] ?? '')),
        );
        if (differs.length === 0) return { id: row.id, outcome: 'unchanged' as const };
        // Past every id stored and every id of this request: free whichever way it is fixed.
        const next = freeStrategyId([...(prepare(this.db, 'SELECT id FROM strategy').pluck().all() as number[]), ...rows.map((r) => r.id)]);
        throw strategyIdTaken(row.id, differs, next);
      }),
    );
    // A dry run answers the same and writes nothing (its database may even be opened read-only).
    try {
      return dryRun ? add.deferred() : add.immediate();
    } catch (error) {
      throw lockedError(this.path, error) ?? error;
    }
  }

  async close(): Promise<void> {
    const thread = this.writerThread;
    this.writerThread = undefined;
    await thread?.close();
    if (!this.db.open) return;
    closeDatabase(this.db);
    // SQLite goes on writing to a file removed (or renamed away) under it, and the writes are
    // then lost with it: a summary of "applied" records would say what no file holds.
    if (this.opened === undefined || this.readOnly) return;
    let now: { dev: number; ino: number } | undefined;
    try {
      now = fileIdentity(this.path);
    } catch {
      return; // the path cannot be looked at (a folder made unreadable): nothing to say for sure
    }
    if (now === undefined || now.dev !== this.opened.dev || now.ino !== this.opened.ino)
      throw new SparctlError(
        'disk.write_failed',
        `${this.path}: the database was removed or replaced while this command used it; what it wrote, if anything, is not in the file at that path now`,
        ExitCode.unavailable,
        { hint: 'put the database back, or run the same command again against the database you mean (--db)' },
      );
  }

  /** Direct read access for tests and `config show`-style inspection. */
  countMappings(): number {
    return (this.statements.count.get() as { n: number }).n;
  }

  auditRows(
    idValue?: string,
  ): { operation: string; id_value: string; old_fa_hash: string | null; new_fa_hash: string | null; source: string; at: string }[] {
    const sql = 'SELECT operation, id_value, old_fa_hash, new_fa_hash, source, at FROM audit_log';
    return (
      idValue === undefined
        ? prepare(this.db, `${sql} ORDER BY id`).all()
        : prepare(this.db, `${sql} WHERE id_value = ? ORDER BY id`).all(idValue)
    ) as ReturnType<LocalMapper['auditRows']>;
  }

  storedFa(idValue: string): string | undefined {
    return this.findMapping(idValue)?.fa_value;
  }

  private buildFa(item: LinkItem): string | ItemResult {
    const strategy = this.strategy(item.fa.strategy_id);
    if (strategy instanceof StrategyError) return reject(item, ReasonCode.faInvalid, strategy.message);
    const built = buildCheckedFa(strategy, item.fa);
    if (!built.ok) return reject(item, ReasonCode.faInvalid, built.problem);
    if (!built.value) return reject(item, ReasonCode.faInvalid, 'the constructed FA is empty');
    return built.value;
  }

  /** SPAR's resolve `details`: the regex groups plus the strategy id kept in additional_info[0]. */
  private deconstruct(faValue: string, additionalInfo: unknown[] | null): Record<string, unknown> | null {
    if (!additionalInfo || additionalInfo.length === 0) return null;
    const first = additionalInfo[0];
    const strategyId = isRecord(first) ? first['strategy_id'] : undefined;
    if (typeof strategyId !== 'number') return {};
    const strategy = this.strategy(strategyId);
    if (strategy instanceof StrategyError) return {};
    return { ...(deconstructFa(strategy, faValue) ?? {}), strategy_id: strategyId };
  }

  private findMapping(idValue: string): MappingRow | undefined {
    return this.statements.find.get(idValue) as MappingRow | undefined;
  }

  private audit(
    operation: Operation,
    item: { id: string; origin?: string },
    oldFa: string | null,
    newFa: string | null,
    context: MapperCallContext,
    at: string,
  ): void {
    this.statements.audit.run(
      at,
      operation,
      item.id,
      oldFa === null ? null : sha256(oldFa),
      newFa === null ? null : sha256(newFa),
      auditSource(item, context),
    );
  }
}

type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(db: Database.Database) {
  return {
    // Positional parameters: binding an object by name costs more than the insert itself.
    find: prepare(db, 'SELECT id, id_value, fa_value, name, phone, additional_info FROM id_fa_mappings WHERE id_value = ?'),
    update: prepare(
      db,
      `UPDATE id_fa_mappings SET fa_value = ?, name = coalesce(?, name), phone = coalesce(?, phone),
         additional_info = ?, updated_at = ?, source_digest = ? WHERE id = ?`,
    ),
    delete: prepare(db, 'DELETE FROM id_fa_mappings WHERE id = ?'),
    setRowDigest: prepare(
      db,
      `UPDATE id_fa_mappings SET source_digest = ?
       WHERE id_value = ? AND fa_value = ? AND additional_info IS ? AND name IS ? AND phone IS ?`,
    ),
    strategy: prepare(db, 'SELECT * FROM strategy WHERE id = ?'),
    allStrategies: prepare(db, 'SELECT * FROM strategy ORDER BY id'),
    count: prepare(db, 'SELECT count(*) AS n FROM id_fa_mappings'),
    audit: prepare(db, 'INSERT INTO audit_log (at, operation, id_value, old_fa_hash, new_fa_hash, source) VALUES (?, ?, ?, ?, ?, ?)'),
  };
}

function success(item: { reference_id: string; id: string }): ItemResult {
  return { reference_id: item.reference_id, id: item.id, status: 'succ', status_reason_code: null, status_reason_message: null };
}

/** A successful link's result, with the FA string stored (one object, not a spread of success()). */
function linked(item: { reference_id: string; id: string }, fa: string): ItemResult {
  return { reference_id: item.reference_id, id: item.id, status: 'succ', status_reason_code: null, status_reason_message: null, fa };
}

function reject(item: { reference_id: string; id: string }, code: string, message: string): ItemResult {
  return { reference_id: item.reference_id, id: item.id, status: 'rjct', status_reason_code: code, status_reason_message: message };
}

/** The audit row's source: the command, and where in its input the change came from. */
function auditSource(item: { readonly origin?: string }, context: MapperCallContext): string {
  return item.origin ? `${context.source} ${item.origin}` : context.source;
}

const plainInfo = new Map<number, string>();

/** The additional_info column of a link or update (empty name and phone are stored as null: SPAR keeps the old ones then). */
function additionalInfoText(item: LinkItem): string {
  if (item.additional_info !== undefined && item.additional_info.length > 0) return JSON.stringify(withStrategyId(item));
  // Most rows carry nothing but the strategy id: one string per strategy, not one per row.
  let text = plainInfo.get(item.fa.strategy_id);
  if (text === undefined) plainInfo.set(item.fa.strategy_id, (text = JSON.stringify(withStrategyId(item))));
  return text;
}

const LEADING_STRATEGY_ID = /^\[\{"strategy_id":([0-9]+)[,}]/;
/** additional_info texts that hold nothing but a strategy id: most rows carry one of a handful. */
const PLAIN_INFO_STRATEGY = new Map<string, number>();

/** additional_info[0].strategy_id, read without parsing the JSON when it leads, as sparctl writes it. */
function strategyIdOf(text: string | null): number | undefined {
  if (text === null) return undefined;
  const plain = PLAIN_INFO_STRATEGY.get(text);
  if (plain !== undefined) return plain;
  const leading = LEADING_STRATEGY_ID.exec(text);
  if (leading && text === `[{"strategy_id":${leading[1]}}]` && PLAIN_INFO_STRATEGY.size < 64)
    PLAIN_INFO_STRATEGY.set(text, Number(leading[1]));
  if (leading) return Number(leading[1]);
  const first = parseAdditionalInfo(text)?.[0];
  const id = isRecord(first) ? first['strategy_id'] : undefined;
  return typeof id === 'number' ? id : undefined;
}

/** SPAR keeps the strategy id in additional_info[0] and adds it when the caller did not. */
function withStrategyId(item: LinkItem): Record<string, unknown>[] {
  const info = item.additional_info?.map((entry) => ({ ...entry })) ?? [];
  if (info.length === 0) return [{ strategy_id: item.fa.strategy_id }];
  if (!('strategy_id' in info[0]!)) info[0]!['strategy_id'] = item.fa.strategy_id;
  return info;
}

function parseAdditionalInfo(text: string | null): unknown[] | null {
  if (text === null) return null;
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function toStrategyRow(row: StrategyDbRow): StrategyRow {
  return { ...row, active: row.active === 1 };
}

/**
 * The file's failures (a full disk, an I/O error, a damaged page) met by any call a run makes,
 * as one line naming the database: `disk.*` (exit 4: fix it and run the same command again), or
 * `local.db_unusable` for a damaged file. A failed transaction was rolled back by SQLite, so the
 * journal's in-flight records are read back by the next run as after any lost answer.
 */
function databaseError(path: string, error: unknown): unknown {
  if (error instanceof SparctlError) return error;
  const locked = lockedError(path, error);
  if (locked !== undefined) return locked;
  if (environmentCode(error) === undefined) return error;
  if (isCorrupt(error))
    return new ConfigError('local.db_unusable', describeFailure(path, 'the local mapper database is damaged', error), {
      hint: 'restore it from a backup, or check it with "sqlite3 FILE \'PRAGMA integrity_check\'"',
      cause: error,
    });
  return duringRunError(path, 'the local mapper database failed', error);
}

for (const name of ['link', 'update', 'unlink', 'resolve', 'storedFas', 'markRows', 'strategies'] as const) {
  const call = LocalMapper.prototype[name] as (...args: unknown[]) => Promise<unknown>;
  Object.defineProperty(LocalMapper.prototype, name, {
    configurable: true,
    writable: true,
    value: async function guarded(this: LocalMapper, ...args: unknown[]): Promise<unknown> {
      try {
        return await call.apply(this, args);
      } catch (error) {
        throw databaseError(this.path, error);
      }
    },
  });
}

/** The device and inode at `path`, or undefined when nothing is there. */
function fileIdentity(path: string): { dev: number; ino: number } | undefined {
  const stats = statSync(path, { throwIfNoEntry: false });
  return stats === undefined ? undefined : { dev: stats.dev, ino: stats.ino };
}
