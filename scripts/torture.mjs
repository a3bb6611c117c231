#!/usr/bin/env node
// More of the write pipeline's torture test than `npm test` runs:
//   npm run torture -- --seeds 200 [--first 1000] [--target local|remote]
// Each seed is a random file run by the built binary with random kills (and, remote, random
// network faults), then checked against the reference model; a failure prints its seed and
// the line that replays it.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const value = (flag, fallback) => {
  const at = args.indexOf(flag);
  return at === -1 ? fallback : args[at + 1];
};
const seeds = value('--seeds', '100');
const first = value('--first', '1');
const target = value('--target', 'both');
const files =
  target === 'both' ? ['test/e2e/torture-local.test.ts', 'test/e2e/torture-remote.test.ts'] : [`test/e2e/torture-${target}.test.ts`];
const root = fileURLToPath(new URL('..', import.meta.url));
const run = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, TORTURE_SEEDS: seeds, TORTURE_FIRST: first },
});
process.exit(run.status ?? 1);
