import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import type { FaultProxy } from '../helpers/fault-proxy.js';
import { bankFlags } from '../helpers/records.js';
import { cliEnv } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';
import { serveBehindProxy } from '../helpers/proxied-serve.js';

/**
 * A mapper (or what sits in front of it) that answers in bad faith: results that contradict each
 * other, name another beneficiary, carry a status SPAR does not have, bodies cut short, never
 * ending or huge, a Retry-After of a day. Whatever it says, a record is reported applied only when
 * known, a resolve never shows one beneficiary's FA as another's, and nothing waits forever.
 */

const HEADER = 'operation,id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number';
const row = (operation: string, id: string, account: string) => `${operation},${id},BANK,Example Bank,EXB,Main,0001,${account}`;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** serve's mapper in this process, behind a fault proxy; the env points sparctl at the proxy. */
async function remote(): Promise<{ backing: LocalMapper; proxy: FaultProxy; env: Record<string, string>; dir: string }> {
  const { backing, proxy } = await serveBehindProxy(cleanups);
  return { backing, proxy, env: { ...cliEnv().env, SPARCTL_BASE_URL: proxy.url, SPARCTL_TIMEOUT_MS: '1500' }, dir: tempDir() };
}

type Answer = {
  response_body: { response_payload: Record<string, Record<string, unknown>[]> };
};
/** Rewrites the list of results of a SPAR v2 answer. */
const results =
  (operation: string, change: (list: Record<string, unknown>[]) => Record<string, unknown>[]) =>
  (body: string): string => {
    const answer = JSON.parse(body) as Answer;
    const payload = answer.response_body.response_payload;
    payload[`${operation}_response`] = change(payload[`${operation}_response`]!);
    return JSON.stringify(answer);
  };

async function linkAll(env: Record<string, string>, dir: string, ids: string[]): Promise<void> {
  writeFileSync(join(dir, 'seed.csv'), `${[HEADER, ...ids.map((id, i) => row('link', id, String(100 + i)))].join('\n')}\n`);
  const seeded = await runMain(['link', '--file', 'seed.csv', '-q'], { env, cwd: dir });
  expect(seeded.code).toBe(0);
}

describe('a mapper that answers in bad faith', () => {
  it('a result given twice with different statuses is no result: the record is read back, not reported rejected', async () => {
    const { backing, proxy, env, dir } = await remote();
    writeFileSync(join(dir, 'links.csv'), `${[HEADER, row('link', 'D1', '1'), row('link', 'D2', '2')].join('\n')}\n`);
    // The mapper linked both; the answer then says D1 again, as "already linked".
    proxy.plan({
      rewrite: results('link', (list) => [
        ...list,
        {
          ...list[0],
          status: 'rjct',
          status_reason_code: 'rjct.reference_id.duplicate',
          status_reason_message: 'ID and FA are already mapped',
        },
      ]),
    });
    const run = await runMain(['link', '--file', 'links.csv', '-o', 'json'], { env, cwd: dir });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).summary).toMatchObject({ total: 2, rejected: 0, applied: 1, confirmed: 1 });
    expect(backing.auditRows()).toHaveLength(2);
  });

  it('a status that is neither succ nor rjct is no result: the record is read back, not reported rejected', async () => {
    const { backing, proxy, env, dir } = await remote();
    writeFileSync(join(dir, 'links.csv'), `${[HEADER, row('link', 'P1', '1'), row('link', 'P2', '2')].join('\n')}\n`);
    proxy.plan({ rewrite: results('link', (list) => list.map((entry) => ({ ...entry, status: 'pend' }))) });
    const run = await runMain(['link', '--file', 'links.csv', '-o', 'json'], { env, cwd: dir });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).summary).toMatchObject({ total: 2, rejected: 0, confirmed: 2 });
    expect(backing.auditRows()).toHaveLength(2);
  });

  it('update answers swapped between two records: neither is reported, the run stops, and the resume reads back', async () => {
    const { proxy, env, dir } = await remote();
    await linkAll(env, dir, ['U1']);
    writeFileSync(join(dir, 'updates.csv'), `${[HEADER, row('update', 'U1', '555'), row('update', 'GHOST', '556')].join('\n')}\n`);
    // U1 is updated and GHOST is not linked; the answer says it the other way round.
    proxy.plan({
      rewrite: results('update', (list) => [
        { ...list[0], reference_id: list[1]!['reference_id'] },
        { ...list[1], reference_id: list[0]!['reference_id'] },
      ]),
    });
    const args = ['update', '--file', 'updates.csv', '--results', 'results.csv', '-o', 'json'];
    const first = await runMain(args, { env, cwd: dir });
    expect(first.code).toBe(4);
    expect(first.stderr).toMatch(/remote\.unexpected_answer/);
    expect(first.stderr).toMatch(/names another ID than the one sent with it/);
    const resumed = await runMain(args, { env, cwd: dir });
    expect(resumed.code).toBe(5);
    const outcomes = readFileSync(join(dir, 'results.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(',').slice(2, 6));
    expect(outcomes).toEqual([
      ['U1', 'update', 'confirmed', 'updated'],
      ['GHOST', 'update', 'rejected', 'not_found'],
    ]);
  });

  it("resolve never shows one beneficiary's FA as another's: an answer whose results name other IDs is refused", async () => {
    const { proxy, env, dir } = await remote();
    await linkAll(env, dir, ['R1', 'R2']);
    proxy.chaos((path) =>
      path.endsWith('/resolve')
        ? {
            rewrite: results('resolve', (list) => [
              { ...list[1], reference_id: list[0]!['reference_id'] },
              { ...list[0], reference_id: list[1]!['reference_id'] },
            ]),
          }
        : undefined,
    );
    const looked = await runMain(['resolve', 'R1', 'R2', '-o', 'jsonl'], { env, cwd: dir });
    expect(looked.code).toBe(4);
    expect(looked.stdout).not.toMatch(/"account_number"/);
    expect(looked.stderr).toMatch(/remote\.unexpected_answer/);
  });

  it('JSON cut short after the mapper applied the batch is read back and not sent again', async () => {
    const { backing, proxy, env, dir } = await remote();
    writeFileSync(join(dir, 'links.csv'), `${[HEADER, row('link', 'T1', '1'), row('link', 'T2', '2')].join('\n')}\n`);
    proxy.plan({ rewrite: (body) => body.slice(0, Math.floor(body.length / 2)) });
    const run = await runMain(['link', '--file', 'links.csv', '-o', 'json'], { env, cwd: dir });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).summary).toMatchObject({ total: 2, rejected: 0, confirmed: 2 });
    expect(backing.auditRows()).toHaveLength(2);
  });

  it('a body that never ends times out (timeoutMs after its headers) and is read back', async () => {
    const { backing, proxy, env, dir } = await remote();
    proxy.plan({ trickle: true });
    const started = Date.now();
    const run = await runMain(['link', '--id', 'N1', ...bankFlags('1')], { env, cwd: dir });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/"confirmed":true/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(backing.auditRows()).toHaveLength(1);
  }, 40_000);

  it('a huge answer is not read past 64 MiB: the request is read back instead', async () => {
    const { backing, proxy, env, dir } = await remote();
    proxy.plan({ padBytes: 200 * 1024 * 1024 });
    const run = await runMain(['link', '--id', 'H1', ...bankFlags('1')], { env: { ...env, SPARCTL_TIMEOUT_MS: '20000' }, cwd: dir });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/"confirmed":true/);
    expect(proxy.log[0]!.sent).toBeLessThan(100 * 1024 * 1024);
    expect(backing.auditRows()).toHaveLength(1);
  }, 60_000);

  it('a Retry-After of a day stops the command at once with what the mapper asked, instead of waiting it out', async () => {
    const { backing, proxy, env, dir } = await remote();
    proxy.plan({ status: 429, retryAfter: '86400' });
    writeFileSync(join(dir, 'links.csv'), `${[HEADER, row('link', 'W1', '1')].join('\n')}\n`);
    const started = Date.now();
    const run = await runMain(['link', '--file', 'links.csv'], { env, cwd: dir });
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(/remote\.retry_later/);
    expect(run.stderr).toMatch(/asks to wait 24 h before trying again \(Retry-After: 86400\)/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(backing.auditRows()).toHaveLength(0);
    // The same command, once the mapper takes requests again, resumes and links.
    const again = await runMain(['link', '--file', 'links.csv', '-q'], { env, cwd: dir });
    expect(again.code).toBe(0);
    expect(backing.auditRows()).toHaveLength(1);
  }, 30_000);

  it('a redirect is never followed nor retried: exit 3 naming where it leads, its credentials masked', async () => {
    let requests = 0;
    const redirecting = createServer((_req, res) => {
      requests++;
      res.writeHead(307, { location: 'http://admin:hunter2@127.0.0.1:9/other-mapper/mapper/link' }).end();
    });
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => redirecting.close(() => resolve())));
    const env = { ...cliEnv().env, SPARCTL_BASE_URL: `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}` };
    const dir = tempDir();
    writeFileSync(join(dir, 'links.csv'), `${[HEADER, row('link', 'D1', '1'), row('link', 'D2', '2')].join('\n')}\n`);
    for (const args of [
      ['link', '--file', 'links.csv'],
      ['link', '--id', 'D3', ...bankFlags('3')],
    ]) {
      requests = 0;
      const run = await runMain(args, { env, cwd: dir });
      expect(run.code).toBe(3);
      expect(run.stderr).toMatch(/remote\.redirected/);
      expect(run.stderr).toMatch(/HTTP 307, a redirect to http:\/\/\*+@127\.0\.0\.1:9\/other-mapper\/mapper\/link/);
      expect(run.stderr).not.toContain('hunter2');
      expect(run.stderr).not.toContain('admin');
      expect(requests).toBe(1);
    }
  }, 30_000);

  it('resolve asks a batch again after a failure that may pass (a 502, a reset), and answers each ID once; --retries 0 stops at the first', async () => {
    const { proxy, env, dir } = await remote();
    const ids = Array.from({ length: 30 }, (_, i) => `R${i}`);
    await linkAll(env, dir, ids);
    writeFileSync(join(dir, 'ids.csv'), `id\n${ids.join('\n')}\n`);
    const faults: ('reset-before' | { statusAfter: number })[] = [{ statusAfter: 502 }, 'reset-before'];
    proxy.chaos((path) => (path.endsWith('/resolve') ? faults.shift() : undefined));
    const looked = await runMain(['resolve', '--file', 'ids.csv', '--batch-size', '10', '--concurrency', '1', '-o', 'jsonl', '-v'], {
      env,
      cwd: dir,
    });
    expect(looked.code).toBe(0);
    const answered = looked.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { id: string; outcome: string });
    expect(answered.map((answer) => answer.id)).toEqual(ids);
    expect(answered.every((answer) => answer.outcome === 'found')).toBe(true);
    expect(looked.stderr).toMatch(/retry 1 of a lookup in \d+\.\d s: .*HTTP 502/);
    expect(looked.stderr).toMatch(/retry 2 of a lookup in \d+\.\d s: /);
    expect(proxy.log.filter((entry) => entry.path.endsWith('/resolve') && entry.fault !== 'none')).toHaveLength(2);
    // Without retries, the first failure ends it: exit 4, nothing shown as found.
    faults.push({ statusAfter: 502 });
    const once = await runMain(['resolve', '--file', 'ids.csv', '--retries', '0', '-o', 'jsonl'], { env, cwd: dir });
    expect(once.code).toBe(4);
    expect(once.stdout).not.toContain('"outcome"');
    expect(once.stdout).toContain('"code":"remote.server_error"');
  });

  it('a resolve answer that leaves an ID out is a failing mapper (exit 4), not an internal error', async () => {
    const { proxy, env, dir } = await remote();
    await linkAll(env, dir, ['M1', 'M2']);
    proxy.chaos((path) => (path.endsWith('/resolve') ? { rewrite: results('resolve', (list) => list.slice(1)) } : undefined));
    const looked = await runMain(['resolve', 'M1', 'M2', '-o', 'jsonl'], { env, cwd: dir });
    expect(looked.code).toBe(4);
    expect(looked.stderr).toMatch(/mapper\.result_missing/);
    expect(looked.stderr).not.toMatch(/internal error/);
    expect(proxy.log.filter((entry) => entry.path.endsWith('/resolve')).length).toBeGreaterThan(0);
  });
});
