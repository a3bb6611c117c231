/**
 * `sparctl serve` stopping (README: "Ctrl-C or SIGTERM lets in-flight requests finish, closes the
 * database and exits 0"): after the signal no new request is executed, even on a keep-alive
 * connection a bulk client keeps busy (503 G2P-REQ-503, Connection: close); a request still
 * being sent is cut off after a short grace, so a stalled client cannot keep the process up; a
 * request being executed finishes and is committed. And bodies are read as strict UTF-8.
 */
import { Agent, request as httpRequest } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ServedRequest } from '../../src/app/serve.js';
import { createSparServer, stopSparServer } from '../../src/adapters/server/spar-v2-server.js';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import type { Mapper } from '../../src/core/mapper.js';
import { cliEnv } from '../helpers/run-cli.js';
import { serveWith } from '../helpers/serve.js';
import { tempDir } from '../helpers/tmp.js';

const wallet = {
  strategy_id: 4,
  fa_type: 'MOBILE_WALLET',
  wallet_provider_name: 'Pink Wallet',
  wallet_provider_code: 'PINK',
  mobile_number: '+639000000002',
};

function envelope(operation: 'link' | 'resolve', items: readonly Record<string, unknown>[]): string {
  const now = new Date().toISOString();
  return JSON.stringify({
    request_header: { sender_app_mnemonic: 'field-team', sender_app_url: 'https://example.org', request_id: 'r1', request_timestamp: now },
    request_body: { request_payload: { transaction_id: 't1', [`${operation}_request`]: items } },
  });
}

const linkBody = (...ids: string[]) =>
  envelope(
    'link',
    ids.map((id, i) => ({ reference_id: `r${i}`, timestamp: new Date().toISOString(), id, fa: wallet })),
  );

const linkHead = (length: number) =>
  `POST /mapper/link HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;

/** Raw HTTP on a socket of its own: what came back until the server closed it, and when it closed. */
function raw(
  port: number,
  first: string | Buffer,
): { done: Promise<{ text: string; at: number }>; text: () => string; write: (more: string) => void; close: () => void } {
  const socket = connect(port, '127.0.0.1', () => socket.write(first));
  let text = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  const done = new Promise<{ text: string; at: number }>((resolve) => {
    socket.on('error', () => resolve({ text, at: Date.now() }));
    socket.on('close', () => resolve({ text, at: Date.now() }));
  });
  return { done, text: () => text, write: (more) => void socket.write(more), close: () => void socket.destroy() };
}

async function until(condition: () => boolean, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A local mapper whose links wait for `release()`: a request held while it is being executed. */
function gatedMapper(real: LocalMapper): { mapper: Mapper; entered: () => number; release: () => void } {
  let entered = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const mapper = new Proxy(real, {
    get(target, key) {
      if (key === 'link')
        return async (...args: Parameters<Mapper['link']>) => {
          entered++;
          await gate;
          return target.link(...args);
        };
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as unknown as Mapper;
  return { mapper, entered: () => entered, release };
}

async function linked(mapper: LocalMapper, id: string): Promise<boolean> {
  const [result] = await mapper.resolve([{ reference_id: '0', id, scope: 'yes_no' }], { source: 'test' });
  return result!.status === 'succ' && result!.status_reason_code === 'succ.id.active';
}

describe('serve stopping (in-process, short grace)', () => {
  it('closes idle connections at once, cuts off a request still being sent after the grace (503), lets one being executed finish', async () => {
    const dir = tempDir();
    const real = LocalMapper.open(join(dir, 'served.db'));
    const gated = gatedMapper(real);
    const log: ServedRequest[] = [];
    const server = createSparServer({ mapper: gated.mapper, partners: new Map(), onRequest: (line) => log.push(line) });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const idle = raw(port, 'GET /ping HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => idle.text().includes('pong'), 'the ping answer');
      const body = linkBody('EXEC_1');
      const executing = raw(port, linkHead(Buffer.byteLength(body)) + body);
      await until(() => gated.entered() === 1, 'the link to reach the mapper');
      const stalledBody = raw(port, `${linkHead(1000)}{"request_header":`);
      const stalledHead = raw(port, 'POST /mapper/link HTTP/1.1\r\nHost: x\r\n');
      await new Promise((resolve) => setTimeout(resolve, 100));

      const asked = Date.now();
      let stopped = false;
      const stop = stopSparServer(server, 300).then(() => (stopped = true));
      expect((await idle.done).at - asked).toBeLessThan(250);

      // After the grace: the body never finished, answered 503 and closed; the half-sent headers closed.
      const cut = await stalledBody.done;
      expect(cut.at - asked).toBeGreaterThanOrEqual(290);
      expect(cut.at - asked).toBeLessThan(3_000);
      expect(cut.text).toMatch(/^HTTP\/1\.1 503 Service Unavailable/);
      expect(cut.text).toMatch(/\r\nretry-after: 5\r\n/i);
      expect(cut.text).toMatch(/\r\nconnection: close\r\n/i);
      expect(cut.text).toContain('"code":"G2P-REQ-503"');
      expect((await stalledHead.done).text).toBe('');

      // The request being executed is neither cut off nor cut in half: it is answered, then the stop ends.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(executing.text()).toBe('');
      expect(stopped).toBe(false);
      gated.release();
      const answered = await executing.done;
      expect(answered.text).toMatch(/^HTTP\/1\.1 200 OK/);
      expect(answered.text).toMatch(/\r\nconnection: close\r\n/i);
      expect(answered.text).toContain('"status":"succ"');
      await stop;
      expect(await linked(real, 'EXEC_1')).toBe(true);
      expect(log.map((line) => `${line.path} ${line.status}`)).toEqual(['/ping 200', '/mapper/link 503', '/mapper/link 200']);
    } finally {
      gated.release();
      server.closeAllConnections();
      await real.close();
    }
  }, 20_000);

  it('an answer still being written when the grace ends is not cut off mid-body: its request was executed', async () => {
    const dir = tempDir();
    const real = LocalMapper.open(join(dir, 'served.db'));
    const log: ServedRequest[] = [];
    // Limits raised: an answer larger than loopback's socket buffers (tens of megabytes).
    const server = createSparServer({
      mapper: real,
      partners: new Map(),
      onRequest: (line) => log.push(line),
      maxItems: 100_000,
      maxBodyBytes: 64 * 1024 * 1024,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      // A big answer to a client that does not read it yet.
      const body = linkBody(...Array.from({ length: 100_000 }, (_, i) => `SLOW_${i}`));
      const socket = connect(port, '127.0.0.1', () => socket.write(linkHead(Buffer.byteLength(body)) + body));
      socket.pause();
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      await until(() => log.length === 1, 'the link to be answered');
      const stop = stopSparServer(server, 500);
      await new Promise((resolve) => setTimeout(resolve, 700)); // past the grace, and reading again within the next one
      socket.resume();
      await closed;
      await stop;
      const text = Buffer.concat(chunks).toString('utf8');
      const length = Number(/\r\ncontent-length: (\d+)\r\n/i.exec(text)?.[1]);
      const received = Buffer.byteLength(text.slice(text.indexOf('\r\n\r\n') + 4));
      expect(length).toBeGreaterThan(10_000_000);
      expect(received).toBe(length);
      expect(await linked(real, 'SLOW_99999')).toBe(true);
    } finally {
      server.closeAllConnections();
      await real.close();
    }
  }, 20_000);

  it('answers a request that comes on a connection still open after the stop 503, with Connection: close, and does not execute it', async () => {
    const dir = tempDir();
    const mapper = LocalMapper.open(join(dir, 'served.db'));
    const log: ServedRequest[] = [];
    const server = createSparServer({ mapper, partners: new Map(), onRequest: (line) => log.push(line) });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      // A keep-alive client: answered, it sends its next request on the same connection; the
      // stop comes while that request is on its way (its first line arrived), so the
      // connection is not idle.
      const first = linkBody('BEFORE_1');
      const client = raw(port, linkHead(Buffer.byteLength(first)) + first);
      await until(() => client.text().includes('"status":"succ"'), 'the first answer');
      expect(client.text()).toMatch(/\r\nconnection: keep-alive\r\n/i);
      const answered = client.text().length;
      client.write('POST /mapper/link HTTP/1.1\r\n');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const stop = stopSparServer(server, 2_000);
      const late = linkBody('LATE_1');
      client.write(linkHead(Buffer.byteLength(late)).slice('POST /mapper/link HTTP/1.1\r\n'.length) + late);
      const { text } = await client.done;
      const second = text.slice(answered);
      expect(second).toMatch(/^HTTP\/1\.1 503 Service Unavailable/);
      expect(second).toMatch(/\r\nconnection: close\r\n/i);
      expect(second).toMatch(/\r\nretry-after: 5\r\n/i);
      expect(second).toContain(
        '{"errors":[{"code":"G2P-REQ-503","message":"Service Unavailable. The server is stopping; try again shortly"}]}',
      );
      await stop;
      expect(await linked(mapper, 'BEFORE_1')).toBe(true);
      expect(await linked(mapper, 'LATE_1')).toBe(false);
      expect(log.map((line) => line.status)).toEqual([200, 503]);
    } finally {
      server.closeAllConnections();
      await mapper.close();
    }
  }, 20_000);
});

describe('sparctl serve stopping (the built binary)', () => {
  it('after SIGTERM a bulk keep-alive client gets nothing more executed, a stalled request is cut off, and serve exits 0 within seconds', async () => {
    const dir = tempDir();
    const served = await serveWith(cliEnv().env, join(dir, 'served.db'), []);
    const port = Number(new URL(served.url).port);
    const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
      served.child.once('exit', (code) => resolve({ code, at: Date.now() })),
    );
    // Headers sent, the body never finished.
    const stalled = raw(port, `${linkHead(1000)}{"request_header":`);

    // A bulk client on four keep-alive connections: each sends its next request as soon as the
    // last is answered, and goes on after a reset (as a retry would); it stops once refused.
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    let signalled: number | undefined;
    const answers: { status: number; connection: string | undefined; retryAfter: string | undefined }[] = [];
    const post = (body: string) =>
      new Promise<(typeof answers)[number]>((resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port, path: '/mapper/link', method: 'POST', agent, headers: { 'content-type': 'application/json' } },
          (res) => {
            res.resume().on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                connection: res.headers.connection,
                retryAfter: res.headers['retry-after'] as string,
              }),
            );
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const refused: string[] = [];
    const loop = async (n: number) => {
      for (let i = 0; signalled === undefined || Date.now() - signalled < 10_000; i++) {
        const ids = Array.from({ length: 20 }, (_, k) => `BULK_${n}_${i}_${k}`);
        try {
          answers.push(await post(linkBody(...ids)));
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code ?? 'error';
          if (code === 'ECONNREFUSED') return void refused.push(code);
        }
      }
    };
    const loops = [0, 1, 2, 3].map(loop);
    await until(() => answers.length >= 40, 'the bulk client to be under way', 30_000);
    signalled = Date.now();
    served.child.kill('SIGTERM');

    const exit = await Promise.race([exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 12_000))]);
    expect(exit, `serve still running 12 s after SIGTERM:\n${served.stderr().slice(-600)}`).toBeDefined();
    expect(exit!.code).toBe(0);
    await Promise.all(loops);
    agent.destroy();

    const stderr = served.stderr();
    const after = stderr.slice(stderr.indexOf('sparctl serve: SIGTERM, finishing in-flight requests'));
    expect(after).toMatch(/sparctl serve: stopped\n$/);
    // Only what was being executed when the signal came (one per connection) is answered 200.
    expect(after.match(/^POST \/mapper\/link 200 /gm)?.length ?? 0).toBeLessThanOrEqual(4);
    expect(refused, 'the client, refused, stops').toHaveLength(4);
    for (const answer of answers.filter((a) => a.status === 503)) {
      expect(answer.connection).toBe('close');
      expect(answer.retryAfter).toBe('5');
    }
    // The stalled request: cut off after the grace (5 s), answered 503.
    const cut = await stalled.done;
    expect(cut.text).toMatch(/^HTTP\/1\.1 503 Service Unavailable/);
    expect(cut.at - signalled).toBeLessThan(9_000);
    expect(after).toMatch(/^POST \/mapper\/link 503 /m);
  });
});

describe('serve reads bodies as strict UTF-8', () => {
  it('answers a body that is not UTF-8 400 G2P-REQ-102 instead of merging IDs that differ in bad bytes', async () => {
    const dir = tempDir();
    const mapper = LocalMapper.open(join(dir, 'served.db'));
    const server = createSparServer({ mapper, partners: new Map() });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      // IDs ID\xff1 and ID\xfe1: replaced as U+FFFD both would be one ID, the second a duplicate.
      const withId = (id: Buffer) => {
        const [before, after] = linkBody('@@').split('@@') as [string, string];
        return Buffer.concat([Buffer.from(before), id, Buffer.from(after)]);
      };
      const post = async (id: Buffer) => {
        const body = withId(id);
        const head = `POST /mapper/link HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
        return (await raw(port, Buffer.concat([Buffer.from(head), body])).done).text;
      };
      for (const bad of [0xff, 0xfe]) {
        const text = await post(Buffer.from([0x49, 0x44, bad, 0x31]));
        expect(text).toMatch(/^HTTP\/1\.1 400 Bad Request/);
        expect(text).toContain(
          '{"errors":[{"code":"G2P-REQ-102","message":"Invalid Input. JSON decode error: the body is not valid UTF-8"}]}',
        );
      }
      // A truncated sequence, and an encoded surrogate, are not UTF-8 either; real non-ASCII text is.
      expect(await post(Buffer.from([0x49, 0x44, 0xc3]))).toMatch(/^HTTP\/1\.1 400 /);
      expect(await post(Buffer.from([0x49, 0x44, 0xed, 0xa0, 0x80]))).toMatch(/^HTTP\/1\.1 400 /);
      const fine = await post(Buffer.from('IDé1'));
      expect(fine).toMatch(/^HTTP\/1\.1 200 OK/);
      expect(fine).toContain('"status":"succ"');
      expect(await linked(mapper, 'IDé1')).toBe(true);
      expect(await linked(mapper, 'ID\uFFFD1')).toBe(false);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await mapper.close();
    }
  });
});

describe('sparctl serve stopping on SIGHUP and SIGQUIT (the built binary)', () => {
  it('an SSH session that goes away (SIGHUP, twice as a shell may send it) or Ctrl-\\ (SIGQUIT) stops serve as SIGTERM does: exit 0, the database closed', async () => {
    const dir = tempDir();
    for (const [signal, twice] of [
      ['SIGHUP', true],
      ['SIGQUIT', false],
    ] as const) {
      const served = await serveWith(cliEnv().env, join(dir, `${signal}.db`), []);
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        served.child.once('exit', (code, by) => resolve({ code, signal: by })),
      );
      // A request whose body never comes keeps serve stopping (for up to 5 s): the second signal
      // finds it still there.
      const port = Number(new URL(served.url).port);
      const stalled = twice ? raw(port, `${linkHead(1000)}{"request_header":`) : undefined;
      if (twice) await new Promise((resolve) => setTimeout(resolve, 300));
      served.child.kill(signal);
      // The same signal again within 200 ms is the same request, not "stop at once": sent as soon
      // as serve has taken the first (so the system cannot merge the two into one, and the 200 ms
      // are not spent waiting on a loaded machine: a fixed 80 ms plus a stall once reached them).
      if (stalled !== undefined) {
        while (!served.stderr().includes(`sparctl serve: ${signal}, finishing in-flight requests`))
          await new Promise((resolve) => setTimeout(resolve, 2));
        served.child.kill(signal);
        await new Promise((resolve) => setTimeout(resolve, 400));
        expect(served.child.exitCode, 'serve ended at once on the second signal').toBeNull();
        stalled.close();
      }
      expect(await exited, served.stderr()).toEqual({ code: 0, signal: null });
      expect(served.stderr()).toMatch(
        new RegExp(`sparctl serve: ${signal}, finishing in-flight requests\\n(?:.*\\n)*sparctl serve: stopped\\n$`),
      );
    }
  });
});
