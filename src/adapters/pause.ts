/**
 * A pause that blocks the thread: for the few places that wait on another process inside a
 * synchronous call (better-sqlite3's opens, a lock file being written), where nothing else of this
 * process could run meanwhile anyway.
 */
export function pauseSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
