import Database from 'better-sqlite3';

/**
 * better-sqlite3 12 wraps its objects in node::ObjectWrap, whose destructor on Node 24 asserts
 * that a Node environment is current. V8 may collect an unreachable Statement or Database from
 * a GC that runs with none (a microtask checkpoint, or teardown), and the process aborts
 * (SIGABRT, "Assertion failed: (env) != nullptr"). better-sqlite3 13 fixes it but no longer
 * supports Node 20, so every object is kept reachable for the life of the process instead:
 * a CLI run or a server opens a handful, and nothing is ever collected.
 */
const RETAINED: object[] = [];

export function openDatabase(path: string, options?: Database.Options): Database.Database {
  const db = new Database(path, options);
  RETAINED.push(db);
  return db;
}

export function prepare(db: Database.Database, sql: string): Database.Statement {
  const statement = db.prepare(sql);
  RETAINED.push(statement);
  return statement;
}

/** Sets a pragma without the throwaway statement db.pragma() would create. */
export function setPragma(db: Database.Database, assignment: string): void {
  db.exec(`PRAGMA ${assignment}`);
}
