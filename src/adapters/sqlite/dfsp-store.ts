import type Database from 'better-sqlite3';
import type { DfspEntry, DfspRemoval } from '../../core/dfsp.js';
import { SparctlError, UsageError } from '../../core/errors.js';
import type { DfspData } from '../../core/mapping.js';
import { printable } from '../../core/shell-word.js';
import { LocalMapper } from './local-mapper.js';
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
import { closeDatabase, openDatabase, prepare } from './retained.js';

/**
 * Banks, branches and wallet providers in the local mapper's SPAR tables (research/spar-api.md
 * §8.3). Codes are what FAs carry; mnemonics (unique in SPAR) are derived from them.
 */
export class DfspStore {
  private constructor(
    private readonly db: Database.Database,
    private readonly path: string,
  ) {}

  /**
   * Opens the mapper database (creating and migrating it when needed). `readOnly` (a dry run)
   * opens an existing file without writing to it — an older schema too, whose DFSP tables are
   * these (they have not changed since the first schema; the write that follows upgrades it) —
   * or an empty mapper in memory when it holds none yet (missing, an empty file).
   */
  static open(path: string, options: { readOnly?: boolean; create?: boolean } = {}): DfspStore {
    if (options.readOnly) {
      const noMapper = assertMapperFile(path);
      if (noMapper !== undefined && options.create === false) throw noMapperError(path, noMapper);
      if (noMapper !== undefined) {
        const db = openDatabase(':memory:');
        migrate(db, ':memory:');
        return new DfspStore(db, path);
      }
      const db = openDatabase(path, { readonly: true, fileMustExist: true });
      try {
        db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
        refuseNewerSchema(schemaVersion(db), path);
      } catch (error) {
        closeDatabase(db);
        throw error;
      }
      return new DfspStore(db, path);
    }
    // The mapper owns the schema: opening it once runs any pending migration (and makes one only
    // where the creation rule lets `create`).
    const mapper = LocalMapper.open(path, undefined, options.create === undefined ? {} : { create: options.create });
    void mapper.close();
    const db = openDatabase(path);
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    return new DfspStore(db, path);
  }

  /**
   * The DFSP tables of the mapper at `path`, for a command that only reads them (an import's
   * names, `dfsp list`): through a read-only connection, so nothing is made, upgraded or written
   * (the tables are the same in every schema version, and whether the file is upgraded is the
   * command's mapper's to decide — never a dry run's). Empty when the path holds no mapper yet.
   */
  static readTables(path: string): DfspData {
    if (assertMapperFile(path) !== undefined) return { banks: [], branches: [], wallet_providers: [] };
    let db: Database.Database | undefined;
    try {
      db = openDatabase(path, { readonly: true, fileMustExist: true });
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      return new DfspStore(db, path).read();
    } catch (error) {
      throw unusableError(path, error);
    } finally {
      if (db !== undefined) closeDatabase(db);
    }
  }

  read(): DfspData {
    const banks = prepare(
      this.db,
      'SELECT bank_code AS code, bank_name AS name FROM banks WHERE active = 1 ORDER BY bank_code',
    ).all() as DfspData['banks'];
    const branches = prepare(
      this.db,
      // A branch is listed only under a listed bank (a bank removed without --with-branches by
      // hand, in SPAR's tables, takes its branches out of the list too).
      'SELECT b.bank_code AS bank_code, r.branch_code AS code, r.branch_name AS name FROM branches r JOIN banks b ON b.id = r.bank_id WHERE r.active = 1 AND b.active = 1 ORDER BY b.bank_code, r.branch_code',
    ).all() as DfspData['branches'];
    const wallets = prepare(
      this.db,
      "SELECT sp_code AS code, sp_name AS name, wallet_type FROM wallet_service_providers WHERE active = 1 ORDER BY wallet_type = 'EMAIL_WALLET', sp_code",
    ).all() as DfspData['wallet_providers'];
    return { banks, branches, wallet_providers: wallets };
  }

  /** Adds what is new and renames what changed, in one transaction; `dryRun` only counts them. */
  import(data: DfspData, options: { dryRun?: boolean } = {}): { added: number; renamed: number; unchanged: number } {
    const dryRun = options.dryRun === true;
    const now = new Date().toISOString();
    const counts = { added: 0, renamed: 0, unchanged: 0 };
    const upsert = (
      find: Database.Statement,
      insert: Database.Statement,
      rename: Database.Statement,
      key: unknown[],
      name: string,
      insertArgs: unknown[],
    ) => {
      const row = find.get(...key) as { id: number; name: string; active: number } | undefined;
      if (row === undefined) {
        if (!dryRun) insert.run(...insertArgs);
        counts.added++;
      } else if (row.active !== 1) {
        // Removed earlier (`dfsp remove` keeps the row, as SPAR does): back in the list.
        if (!dryRun) rename.run(name, now, row.id);
        counts.added++;
      } else if (row.name !== name) {
        if (!dryRun) rename.run(name, now, row.id);
        counts.renamed++;
      } else counts.unchanged++;
    };
    const findBank = prepare(this.db, 'SELECT id, bank_name AS name, active FROM banks WHERE bank_code = ?');
    // Statements that write are prepared all the same: preparing writes nothing.
    const insertBank = prepare(
      this.db,
      'INSERT INTO banks (bank_mnemonic, bank_name, bank_code, active, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?)',
    );
    const renameBank = prepare(this.db, 'UPDATE banks SET bank_name = ?, updated_at = ?, active = 1 WHERE id = ?');
    const findBranch = prepare(
      this.db,
      'SELECT r.id, r.branch_name AS name, r.active FROM branches r JOIN banks b ON b.id = r.bank_id WHERE b.bank_code = ? AND r.branch_code = ?',
    );
    const insertBranch = prepare(
      this.db,
      'INSERT INTO branches (branch_mnemonic, branch_name, branch_code, bank_id, active, created_at, updated_at) VALUES (?, ?, ?, (SELECT id FROM banks WHERE bank_code = ?), 1, ?, ?)',
    );
    const renameBranch = prepare(this.db, 'UPDATE branches SET branch_name = ?, updated_at = ?, active = 1 WHERE id = ?');
    const findWallet = prepare(
      this.db,
      'SELECT id, sp_name AS name, active FROM wallet_service_providers WHERE sp_code = ? AND wallet_type = ?',
    );
    const insertWallet = prepare(
      this.db,
      'INSERT INTO wallet_service_providers (sp_mnemonic, sp_name, sp_code, wallet_type, active, created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)',
    );
    const renameWallet = prepare(this.db, 'UPDATE wallet_service_providers SET sp_name = ?, updated_at = ?, active = 1 WHERE id = ?');
    const listedBank = prepare(this.db, 'SELECT 1 FROM banks WHERE bank_code = ? AND active = 1');
    const branchNamed = prepare(this.db, 'SELECT branch_code AS code, bank_id FROM branches WHERE branch_mnemonic = ?');
    // A dry run adds no bank: the branches of one the file adds (or lists again) are checked against the file.
    const fileBanks = new Set(dryRun ? data.banks.map((bank) => bank.code) : []);
    const all = this.db.transaction(() => {
      for (const bank of data.banks)
        upsert(findBank, insertBank, renameBank, [bank.code], bank.name, [bank.code, bank.name, bank.code, now, now]);
      for (const branch of data.branches) {
        // Looked at again under the write lock: the file was checked against the list read
        // before, and a `dfsp remove` may have taken the bank out since.
        if (!fileBanks.has(branch.bank_code) && listedBank.get(branch.bank_code) === undefined)
          throw new UsageError(
            'dfsp.invalid',
            `branch "${printable(branch.code)}" of bank "${printable(branch.bank_code)}": the bank is not in the list (removed while this import ran?); nothing was imported`,
            { hint: 'import the bank with its branches, or check "sparctl dfsp list --type banks"' },
          );
        // SPAR names a branch BANK-CODE, unique among removed ones too: A-B's C and A's B-C are one name.
        const taken = branchNamed.get(`${branch.bank_code}-${branch.code}`) as { code: string } | undefined;
        if (taken !== undefined && taken.code !== branch.code)
          throw new UsageError(
            'dfsp.invalid',
            `branch "${printable(branch.code)}" of bank "${printable(branch.bank_code)}" would be named ${printable(`${branch.bank_code}-${branch.code}`)}, as a removed branch "${printable(taken.code)}" is; nothing was imported`,
            { hint: 'SPAR names each branch BANK-CODE: choose a code that does not make the same name' },
          );
        upsert(findBranch, insertBranch, renameBranch, [branch.bank_code, branch.code], branch.name, [
          `${branch.bank_code}-${branch.code}`,
          branch.name,
          branch.code,
          branch.bank_code,
          now,
          now,
        ]);
      }
      for (const wallet of data.wallet_providers) {
        upsert(findWallet, insertWallet, renameWallet, [wallet.code, wallet.wallet_type], wallet.name, [
          `${wallet.wallet_type}-${wallet.code}`,
          wallet.name,
          wallet.code,
          wallet.wallet_type,
          now,
          now,
        ]);
      }
    });
    try {
      if (dryRun) all.deferred();
      else all.immediate();
    } catch (error) {
      if (error instanceof SparctlError) throw error;
      throw lockedError(this.path, error) ?? error;
    }
    return counts;
  }

  /**
   * Takes one bank (with its branches when `withBranches`), branch or wallet provider out of the
   * list, in one transaction that also looks it up, so that nothing added meanwhile (a branch of
   * that bank) is missed. The row is kept inactive, as SPAR keeps it: a later import brings it
   * back. `dryRun` only looks. Not found (or removed already): `found` false.
   */
  remove(entry: DfspEntry, options: { withBranches: boolean; dryRun: boolean }): DfspRemoval {
    const now = new Date().toISOString();
    // One listed row found by `find`, made inactive through `table` unless this is a dry run.
    const one = (find: string, table: string, key: unknown[]): DfspRemoval => {
      const row = prepare(this.db, find).get(...key) as { id: number; name: string } | undefined;
      if (row === undefined) return { found: false };
      if (!options.dryRun) prepare(this.db, `UPDATE ${table} SET active = 0, updated_at = ? WHERE id = ?`).run(now, row.id);
      return { found: true, name: row.name, branches: [] };
    };
    const look = (): DfspRemoval => {
      if (entry.kind === 'wallet')
        return one(
          'SELECT id, sp_name AS name FROM wallet_service_providers WHERE sp_code = ? AND wallet_type = ? AND active = 1',
          'wallet_service_providers',
          [entry.code, entry.walletType],
        );
      if (entry.kind === 'branch')
        return one(
          'SELECT r.id, r.branch_name AS name FROM branches r JOIN banks b ON b.id = r.bank_id WHERE b.bank_code = ? AND b.active = 1 AND r.branch_code = ? AND r.active = 1',
          'branches',
          [entry.bankCode, entry.code],
        );
      const bank = prepare(this.db, 'SELECT id, bank_name AS name FROM banks WHERE bank_code = ? AND active = 1').get(entry.code) as
        | { id: number; name: string }
        | undefined;
      if (bank === undefined) return { found: false };
      const branches = (
        prepare(this.db, 'SELECT branch_code AS code FROM branches WHERE bank_id = ? AND active = 1 ORDER BY branch_code').all(bank.id) as {
          code: string;
        }[]
      ).map((branch) => branch.code);
      if (branches.length > 0 && !options.withBranches) return { found: true, name: bank.name, branches };
      if (!options.dryRun) {
        prepare(this.db, 'UPDATE branches SET active = 0, updated_at = ? WHERE bank_id = ? AND active = 1').run(now, bank.id);
        prepare(this.db, 'UPDATE banks SET active = 0, updated_at = ? WHERE id = ?').run(now, bank.id);
      }
      return { found: true, name: bank.name, branches };
    };
    try {
      const transaction = this.db.transaction(look);
      return options.dryRun ? transaction.deferred() : transaction.immediate();
    } catch (error) {
      throw lockedError(this.path, error) ?? error;
    }
  }

  close(): void {
    closeDatabase(this.db);
  }
}
