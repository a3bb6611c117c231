#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/ (built from src/ by `npm run build`, run by npm ci).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  process.stderr.write(`sparctl: Node ${process.versions.node} is too old; sparctl needs Node 20.19 or newer\n`);
  process.exit(1);
}
// A failed write to stdout or stderr must not crash a run half-way. A reader that goes away
// (`sparctl … 2>&1 | head -1`): what is written to it from then on is dropped, and the work and
// its exit code carry on. Any other failure (a full disk under `> file`) main() watches for and
// reports as one line with exit 4 (src/cli/output-failure.ts); until it runs, nothing is written.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
// undici parses HTTP with WebAssembly (llhttp). V8 compiles it with Liftoff, then recompiles it
// with TurboFan on a background thread, and process.exit waits for that thread: a single remote
// command printed its answer and then took 0.2-0.6 s to exit. Liftoff alone removes the wait; the
// parser's share of a bulk run is too small for its slower code to show (resolve of 20,000 IDs:
// the same CPU time, 1.1-1.5 s, either way).
const { setFlagsFromString } = await import('node:v8');
setFlagsFromString('--liftoff-only');
const { main } = await import('../dist/cli/main.js');
const code = await main(process.argv.slice(2));
// The code stands even if the flush below never completes and the event loop drains (a TTY whose
// input ended at a prompt, Ctrl-D): Node then exits with process.exitCode, not 0.
process.exitCode = code;
// Exit explicitly once stdout and stderr are flushed. Letting Node tear the environment down
// instead lets V8 collect leftover better-sqlite3 statements after their environment is gone,
// which aborts the process on Node 24 (Statement::~Statement → RemoveEnvironmentCleanupHook).
const flushed = (stream) =>
  new Promise((resolve) => (stream.destroyed || !stream.writable ? resolve() : stream.write('', () => resolve())));
await flushed(process.stdout);
await flushed(process.stderr);
// A signal received as the command ended reaches a listener still there (cli/io.ts,
// endOnUnheardSignals) only when the event loop polls: the second turn follows a poll.
const turn = () => new Promise((resolve) => setImmediate(resolve));
await turn();
await turn();
process.exit(code);
