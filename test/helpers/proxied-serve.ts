import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createSparServer } from '../../src/adapters/server/spar-v2-server.js';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { tempDir } from './tmp.js';

/**
 * serve's SPAR v2 mapper in this process over a fresh local mapper, behind a fault proxy: point
 * sparctl at `proxy.url`. Each thing started is handed to `cleanups` to be closed after the test.
 */
export async function serveBehindProxy(cleanups: (() => Promise<void> | void)[]): Promise<{ backing: LocalMapper; proxy: FaultProxy }> {
  const backing = LocalMapper.open(join(tempDir(), 'server.db'));
  const server = createSparServer({ mapper: backing, partners: new Map() });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy = await startFaultProxy(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  cleanups.push(() => backing.close());
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  cleanups.push(() => proxy.close());
  return { backing, proxy };
}
