#!/usr/bin/env node
// A SPAR v2 mapper of known capacity, for bench/remote.mjs: sparctl serve's API over a local
// mapper, behind a gate of WORKERS requests served at once, each holding its worker COST_MS per
// item (a deployment's database and business logic, as time rather than CPU, so that the client
// and this server do not compete for this machine's cores). Prints its URL, then serves.
//   node bench/capacity-server.mjs WORKERS COST_MS DB
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const [workers, costMs, db] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];
const { LocalMapper } = await import(`${root}dist/adapters/sqlite/local-mapper.js`);
const { createSparServer } = await import(`${root}dist/adapters/server/spar-v2-server.js`);

const inner = LocalMapper.open(db);
let free = workers;
const queue = [];
async function gated(items, call) {
  if (free > 0) free--;
  else await new Promise((resolve) => queue.push(resolve));
  try {
    await new Promise((resolve) => setTimeout(resolve, items.length * costMs));
    return await call();
  } finally {
    const next = queue.shift();
    if (next) next();
    else free++;
  }
}
const mapper = new Proxy(inner, {
  get(target, key) {
    const value = Reflect.get(target, key, target);
    if (['link', 'update', 'resolve', 'unlink'].includes(key))
      return (items, context) => gated(items, () => value.call(target, items, context));
    return typeof value === 'function' ? value.bind(target) : value;
  },
});
const server = createSparServer({ mapper, partners: new Map() });
server.listen(0, '127.0.0.1', () => process.stdout.write(`http://127.0.0.1:${server.address().port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
