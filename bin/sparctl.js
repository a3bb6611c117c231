#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/ (built from src/ by `npm run build`, run by npm ci).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  process.stderr.write(`sparctl: Node ${process.versions.node} is too old; sparctl needs Node 20.19 or newer\n`);
  process.exit(1);
}
const { main } = await import('../dist/cli/main.js');
const code = await main(process.argv.slice(2));
// Exit explicitly once stdout and stderr are flushed. Letting Node tear the environment down
// instead lets V8 collect leftover better-sqlite3 statements after their environment is gone,
// which aborts the process on Node 24 (Statement::~Statement → RemoveEnvironmentCleanupHook).
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
