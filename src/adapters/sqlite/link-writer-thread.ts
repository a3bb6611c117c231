import { parentPort, workerData } from 'node:worker_threads';
import { LinkWrites, type LinkRow } from './link-writes.js';
import { makeDurable, openDatabase, setPragma } from './retained.js';
import { StoredLookups, type StoredLookup } from './stored-lookups.js';

/**
 * A request to the writer thread: the rows of one link request, or the IDs to read the stored
 * values of with the texts of their item rows, as JSON text (one string is copied, not cloned
 * value by value).
 */
export type LinkWriteRequest =
  | { readonly call: number; readonly rows: string; readonly now: string; readonly source: string; readonly contexts: readonly string[] }
  | { readonly call: number; readonly read: string; readonly contexts: readonly string[] };

export type LinkWriteReply =
  | { readonly call: number; readonly linked: true | boolean[] }
  | { readonly call: number; readonly found: StoredLookup }
  | { readonly call: number; readonly error: { readonly message: string; readonly code?: string } };

const port = parentPort!;
const db = openDatabase((workerData as { path: string }).path);
setPragma(db, 'busy_timeout = 10000');
makeDurable(db, 10_000);
const writes = new LinkWrites(db);
const lookups = new StoredLookups(db);

port.on('message', (request: LinkWriteRequest | 'close') => {
  if (request === 'close') {
    db.close();
    port.close();
    return;
  }
  let reply: LinkWriteReply;
  try {
    if ('read' in request) {
      const [ids, texts, contextOf] = JSON.parse(request.read) as [string[], (string | null)[] | null, number[] | null];
      const itemRows = texts === null || contextOf === null ? undefined : { contexts: request.contexts, texts, contextOf };
      reply = { call: request.call, found: db.transaction(() => lookups.read(ids, itemRows)).deferred() };
    } else {
      const rows = JSON.parse(request.rows) as LinkRow[];
      reply = { call: request.call, linked: db.transaction(() => writes.write(rows, request.now, request)).immediate() };
    }
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    reply = {
      call: request.call,
      error: { message: error instanceof Error ? error.message : String(error), ...(typeof code === 'string' ? { code } : {}) },
    };
  }
  port.postMessage(reply);
});
