import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LinkRequest, LinkRow } from './link-writes.js';
import type { RowTexts } from './row-digest.js';
import type { LinkWriteReply, LinkWriteRequest } from './link-writer-thread.js';
import type { StoredLookup } from './stored-lookups.js';

/** The thread's program, compiled beside this module (the test runner loads the TypeScript, beside which there is none). */
export const LINK_WRITER_THREAD_FILE = new URL('./link-writer-thread.js', import.meta.url);

export function linkWriterThreadAvailable(threadFile: URL = LINK_WRITER_THREAD_FILE): boolean {
  return threadFile.protocol === 'file:' && existsSync(fileURLToPath(threadFile));
}

/**
 * The inserting and auditing half of the local mapper's link, and the reading half of its
 * storedFas when there is nothing to write, on a thread with its own connection: while it writes
 * or reads one request, the main thread parses, maps and checks the next records, so a bulk
 * import uses both cores. Requests are handled one at a time in the order sent, each in its own
 * transaction; a write is answered only once it has committed.
 */
export class LinkWriterThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (answer: never) => void; reject: (error: Error) => void }>();
  private calls = 0;
  private writesPending = 0;
  private failure: Error | undefined;

  constructor(path: string, threadFile: URL = LINK_WRITER_THREAD_FILE) {
    // It holds one request's rows at a time: a small young generation is plenty, and the
    // default one would add 12 MB to the process's peak memory.
    this.worker = new Worker(threadFile, { workerData: { path }, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    // Only a write in progress keeps the process alive.
    this.worker.unref();
    this.worker.on('message', (reply: LinkWriteReply) => {
      const waiting = this.pending.get(reply.call);
      if (waiting === undefined) return;
      this.pending.delete(reply.call);
      if (this.pending.size === 0) this.worker.unref();
      if ('linked' in reply) waiting.resolve(reply.linked as never);
      else if ('found' in reply) waiting.resolve(reply.found as never);
      else waiting.reject(Object.assign(new Error(reply.error.message), reply.error.code === undefined ? {} : { code: reply.error.code }));
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      for (const waiting of this.pending.values()) waiting.reject(this.failure);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the local mapper's writer thread stopped (exit code ${code})`)));
  }

  /** Inserts and audits the rows in one transaction: `true` when all went in, else which did. */
  write(rows: readonly LinkRow[], now: string, request: LinkRequest): Promise<true | boolean[]> {
    // One string is copied to the thread; an array of rows would be cloned value by value.
    this.writesPending++;
    return this.call<true | boolean[]>((call) => ({
      call,
      rows: JSON.stringify(rows),
      now,
      source: request.source,
      contexts: request.contexts,
    })).finally(() => this.writesPending--);
  }

  /** True while a write is queued or under way: a read sent now would be answered only after it. */
  get writing(): boolean {
    return this.writesPending > 0;
  }

  /**
   * StoredLookups.read on the thread's connection, after every write sent before it has
   * committed: the main thread maps and checks other records meanwhile.
   */
  read(ids: readonly string[], itemRows?: RowTexts): Promise<StoredLookup> {
    return this.call<StoredLookup>((call) => ({
      call,
      read: JSON.stringify([ids, itemRows?.texts ?? null, itemRows?.contextOf ?? null]),
      contexts: itemRows?.contexts ?? [],
    }));
  }

  private call<T>(request: (call: number) => LinkWriteRequest): Promise<T> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const call = ++this.calls;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(call, { resolve: resolve as (answer: never) => void, reject });
      this.worker.ref();
      this.worker.postMessage(request(call));
    });
  }

  async close(): Promise<void> {
    if (this.failure !== undefined) return;
    const stopped = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.ref();
    this.worker.postMessage('close');
    await stopped;
  }
}
