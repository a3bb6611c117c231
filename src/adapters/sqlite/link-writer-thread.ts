import { parentPort, workerData } from 'node:worker_threads';
import { LinkWrites, type LinkRow } from './link-writes.js';
import { openDatabase, setPragma } from './retained.js';

/** A request to the writer thread: the rows of one link request as JSON text (one string is copied, not cloned). */
export interface LinkWriteRequest {
  readonly call: number;
  readonly rows: string;
  readonly now: string;
}

export type LinkWriteReply =
  | { readonly call: number; readonly linked: true | boolean[] }
  | { readonly call: number; readonly error: { readonly message: string; readonly code?: string } };

const port = parentPort!;
const db = openDatabase((workerData as { path: string }).path);
setPragma(db, 'journal_mode = WAL');
setPragma(db, 'synchronous = NORMAL');
setPragma(db, 'busy_timeout = 10000');
const writes = new LinkWrites(db);

port.on('message', (request: LinkWriteRequest | 'close') => {
  if (request === 'close') {
    db.close();
    port.close();
    return;
  }
  let reply: LinkWriteReply;
  try {
    const rows = JSON.parse(request.rows) as LinkRow[];
    reply = { call: request.call, linked: db.transaction(() => writes.write(rows, request.now)).immediate() };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    reply = { call: request.call, error: { message: error instanceof Error ? error.message : String(error), ...(typeof code === 'string' ? { code } : {}) } };
  }
  port.postMessage(reply);
});
