/**
 * G2P Connect asynchronous mode end to end: the built binary against the spec-conformant fake
 * mapper, killed while its callbacks are still outstanding, then resumed.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startG2pConnectFake, type G2pConnectFake } from '../helpers/g2p-connect-fake.js';
import { BIN, cliEnv, SPAWN_LIMIT } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

let server: G2pConnectFake | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('sparctl --async (G2P Connect)', () => {
  it('killed while callbacks are outstanding, resumes without sending anything twice', async () => {
    server = await startG2pConnectFake({ delayMs: 5_000 });
    const dir = tempDir();
    const rows = ['id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number'];
    for (let i = 0; i < 10; i++) rows.push(`AS${i},BANK,Example Bank,EXB,Main,0001,${1000 + i}`);
    writeFileSync(join(dir, 'in.csv'), `${rows.join('\n')}\n`);
    const { env } = cliEnv({ SPARCTL_BASE_URL: server.url, SPARCTL_PROTOCOL: 'g2p-connect', SPARCTL_ASYNC: 'true' });
    const args = ['link', '--file', 'in.csv', '--batch-size', '5', '--concurrency', '1'];

    const child = spawn(process.execPath, [BIN, ...args], { ...SPAWN_LIMIT, env, cwd: dir, stdio: 'ignore' });
    // Kill it once the first batch is acknowledged: its callback is 5 s away.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no async link request arrived')), 15_000);
      const poll = setInterval(() => {
        if (server!.requests.some((r) => r.kind === 'async' && r.operation === 'link' && r.ackStatus === 'ACK')) {
          clearInterval(poll);
          clearTimeout(timer);
          child.kill('SIGKILL');
          resolve();
        }
      }, 10);
    });
    await new Promise((resolve) => child.once('exit', resolve));
    expect(server.mappings.size).toBe(5); // the mapper applied the first batch; sparctl never heard

    await server.configure({ delayMs: 20 });
    const resumed = await runMain(args, { env, cwd: dir });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/10 records/);
    expect(server.mappings.size).toBe(10);
    const links = server.requests.filter((r) => r.kind === 'async' && r.operation === 'link');
    expect(links).toHaveLength(2); // the first batch was confirmed by resolve, not sent again
    expect(server.requests.some((r) => r.kind === 'async' && r.operation === 'resolve')).toBe(true);
  }, 60_000);

  it('refuses --async for a profile that does not speak G2P Connect', async () => {
    const { env } = cliEnv({ SPARCTL_BASE_URL: 'http://127.0.0.1:9' });
    const run = await runMain(['--async', 'resolve', '--id', 'X'], { env });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/asynchronous mode is part of the G2P Connect API; this mapper's protocol is spar-v2/);
  });
});
