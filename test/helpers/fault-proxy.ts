import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP proxy on 127.0.0.1 that sits between sparctl and a mapper and misbehaves on cue, one
 * planned fault per request in order, then forwards faithfully:
 * - `reset-before`: the connection is dropped before the request reaches the mapper;
 * - `reset-after`: the mapper applies the request, then the connection is dropped (outcome unknown);
 * - `{ status, retryAfter? }`: answered by the proxy, the mapper never sees it;
 * - `{ slowMs }`: the mapper applies the request; its answer is held back past the client's timeout;
 * - `{ statusAfter }`: the mapper applies the request, and the proxy answers this status instead
 *   (what Envoy or Istio say when the upstream connection resets before its headers);
 * - `{ rewrite }`: the mapper applies the request; the proxy answers 200 with the body rewritten;
 * - `{ trickle: true }`: the mapper applies the request; the answer's headers come, then its body
 *   a byte every 100 ms, never ending (for at most 30 s, or until the client leaves);
 * - `{ padBytes }`: the mapper applies the request; its answer comes after that many spaces
 *   (still valid JSON), streamed; `log` says how many bytes the client took (`sent`).
 * - `late`: the request is held up on the way and never answered (the client times out); it
 *   reaches the mapper just before the next write does — after the client's read-back.
 * Besides planned faults, `chaos` may pick a fault for any request, at random.
 */
export type ProxyFault =
  | 'late'
  | 'reset-before'
  | 'reset-after'
  | { status: number; retryAfter?: string }
  | { slowMs: number }
  | { statusAfter: number }
  | { rewrite: (body: string) => string }
  | { trickle: true }
  | { padBytes: number };

export interface FaultProxy {
  readonly url: string;
  /** Faults still to be used, and requests seen by path. */
  readonly log: { path: string; fault: string; sent?: number }[];
  plan(...faults: ProxyFault[]): void;
  /** Picks a fault (or none) for each request not covered by a planned one; reads too, when it says so. */
  chaos(pick: ((path: string) => ProxyFault | undefined) | undefined): void;
  close(): Promise<void>;
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const faults: ProxyFault[] = [];
  let pick: ((path: string) => ProxyFault | undefined) | undefined;
  const log: { path: string; fault: string; sent?: number }[] = [];
  /** Requests held up on the way (`late`): delivered before the next write. */
  const held: (() => Promise<unknown>)[] = [];
  const forward = (
    req: IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const out = httpRequest(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, host: target.host } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      out.on('error', reject);
      out.end(body);
    });
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      // Reads (resolve, ping) pass untouched, so reconciliation itself is not sabotaged.
      const planned = req.url?.endsWith('/resolve') || req.url === '/ping' ? undefined : faults.shift();
      const fault = planned ?? pick?.(req.url ?? '');
      const entry: { path: string; fault: string; sent?: number } = {
        path: req.url ?? '',
        fault: fault === undefined ? 'none' : typeof fault === 'object' && 'rewrite' in fault ? 'rewrite' : JSON.stringify(fault),
      };
      log.push(entry);
      if (fault === 'reset-before') return void req.socket.destroy();
      if (fault === 'late') return void held.push(() => forward(req, body).catch(() => undefined));
      const reads = req.url?.endsWith('/resolve') || req.url === '/ping';
      const arrived = reads ? Promise.resolve() : Promise.all(held.splice(0).map((deliver) => deliver()));
      if (fault !== undefined && typeof fault === 'object' && 'status' in fault) {
        res.writeHead(fault.status, { 'content-type': 'text/plain', ...(fault.retryAfter ? { 'retry-after': fault.retryAfter } : {}) });
        return void res.end('injected by the fault proxy');
      }
      arrived
        .then(() => forward(req, body))
        .then(
          (answer) => {
            if (fault === 'reset-after') return void req.socket.destroy();
            const send = () => {
              if (res.destroyed) return;
              if (fault !== undefined && typeof fault === 'object' && 'rewrite' in fault) {
                res.writeHead(200, { 'content-type': 'application/json' });
                return void res.end(fault.rewrite(answer.body.toString('utf8')));
              }
              if (fault !== undefined && typeof fault === 'object' && 'trickle' in fault) {
                res.writeHead(200, { 'content-type': 'application/json' });
                res.write('{');
                const until = Date.now() + 30_000;
                const timer = setInterval(() => {
                  if (res.destroyed || Date.now() > until) {
                    clearInterval(timer);
                    return void res.destroy();
                  }
                  res.write(' ');
                }, 100);
                return;
              }
              if (fault !== undefined && typeof fault === 'object' && 'padBytes' in fault) {
                res.writeHead(200, { 'content-type': 'application/json' });
                const pad = Buffer.alloc(64 * 1024, 0x20);
                entry.sent = 0;
                const pump = (): void => {
                  while (entry.sent! < fault.padBytes) {
                    if (res.destroyed) return;
                    entry.sent! += pad.length;
                    if (!res.write(pad)) return void res.once('drain', pump);
                  }
                  res.end(answer.body);
                };
                return pump();
              }
              if (fault !== undefined && typeof fault === 'object' && 'statusAfter' in fault) {
                res.writeHead(fault.statusAfter, { 'content-type': 'text/plain' });
                return void res.end('upstream connect error or disconnect/reset before headers');
              }
              res.writeHead(answer.status, { 'content-type': String(answer.headers['content-type'] ?? 'application/json') });
              res.end(answer.body);
            };
            if (fault !== undefined && typeof fault === 'object' && 'slowMs' in fault) setTimeout(send, fault.slowMs);
            else send();
          },
          () => req.socket.destroy(),
        );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    plan: (...more) => void faults.push(...more),
    chaos: (chooser) => {
      pick = chooser;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
