import { describe, expect, it } from 'vitest';
import { serve, sizeText, type Listening, type ServeDeps, type ServeInput, type ServerStart } from '../../src/app/serve.js';
import { isLoopbackHost } from '../../src/adapters/server/guard.js';
import { ExitCode } from '../../src/core/errors.js';
import { strict } from '../helpers/strict.js';

const INPUT: ServeInput = { host: '127.0.0.1', port: 0, partner: [], maxBodyBytes: 10 * 1024 * 1024, maxItems: 5000 };

/** Deps with a server that listens on `address`, stops when asked, and a signal that comes at once. */
function deps(overrides: Partial<ServeDeps> = {}, address = '127.0.0.1') {
  const notes: string[] = [];
  const events: string[] = [];
  const starts: ServerStart[] = [];
  const base: Partial<ServeDeps> = {
    isLoopbackHost,
    globalInsecure: false,
    quiet: false,
    target: async () => ({ mode: 'local', source: 'flag --db' }),
    loadPartners: async (specs) => new Map(specs.map((spec) => [`PARTNER_${spec.split('=')[0]!.toUpperCase()}`, [{}]])),
    listen: async (start) => {
      starts.push(start);
      events.push('listen');
      return strict<Listening>('server', {
        target: 'local /tmp/m.db',
        address,
        port: 8123,
        stop: async () => {
          events.push('stop');
        },
        abort: async () => {
          events.push('abort');
        },
      });
    },
    stopSignal: async () => {
      events.push('signal');
      return 'SIGTERM';
    },
    note: (line) => notes.push(line),
  };
  return Object.assign(strict<ServeDeps>('deps', { ...base, ...overrides }), { notes, events, starts });
}

describe('serve (use case)', () => {
  it('refuses half a TLS pair, and an address other machines can reach without authentication and TLS, before reading any setting', async () => {
    const guard = (globalInsecure = false) => strict<ServeDeps>('deps', { isLoopbackHost, globalInsecure }); // target() is not given
    await expect(serve(guard(), { ...INPUT, tlsCert: 'c.pem' })).rejects.toMatchObject({
      code: 'serve.tls_incomplete',
      message: '--tls-cert needs --tls-key too',
    });
    await expect(serve(guard(), { ...INPUT, tlsKey: 'k.pem' })).rejects.toMatchObject({ message: '--tls-key needs --tls-cert too' });
    await expect(serve(guard(), { ...INPUT, host: '0.0.0.0' })).rejects.toMatchObject({
      code: 'serve.unguarded',
      message: 'refusing to serve on 0.0.0.0, which other machines can reach: requests would be neither authenticated nor encrypted',
      hint: 'add --partner NAME=PEM or --token-file PATH, and --tls-cert PEM --tls-key PEM; or pass --insecure-serve on a network you trust',
    });
    await expect(serve(guard(), { ...INPUT, host: 'localhost.example.org', tokenFile: 't' })).rejects.toMatchObject({
      message: expect.stringContaining('requests would travel unencrypted, without TLS'),
    });
    await expect(serve(guard(true), { ...INPUT, host: '', tlsCert: 'c', tlsKey: 'k' })).rejects.toMatchObject({
      message: 'refusing to serve on every interface, which other machines can reach: requests would not be authenticated',
      hint: expect.stringMatching(/; --insecure is about certificates of servers sparctl connects to, not this one$/),
    });
  });

  it('needs a local target, and loads nothing before it knows', async () => {
    const d = deps({ target: async () => ({ mode: 'remote', source: 'profile prod' }) });
    delete (d as { loadPartners?: unknown }).loadPartners;
    await expect(serve(d, INPUT)).rejects.toMatchObject({
      code: 'serve.remote_profile',
      exitCode: 2,
      message: 'serve needs a local mapper, but the target is remote (profile prod)',
    });
  });

  it('on loopback: starts unguarded, says so and how, logs each request unless -q, and stops on the signal', async () => {
    const d = deps();
    expect(await serve(d, INPUT)).toEqual({ exitCode: ExitCode.ok });
    expect(d.events).toEqual(['listen', 'signal', 'stop']);
    expect(d.notes).toEqual([
      'sparctl serve: listening on http://127.0.0.1:8123 (local /tmp/m.db; requests NOT authenticated, loopback only; plain HTTP; at most 10 MiB and 5000 items per request)',
      'sparctl serve: SIGTERM, finishing in-flight requests',
      'sparctl serve: stopped',
    ]);
    d.starts[0]!.onRequest!({ method: 'POST', path: '/mapper/link', status: 200, partner: 'PARTNER_X', items: 3, ms: 4 });
    d.starts[0]!.onRequest!({ method: 'GET', path: '/ping', status: 200, partner: null, items: 0, ms: 1 });
    expect(d.notes.slice(3)).toEqual(['POST /mapper/link 200 3 item(s) PARTNER_X 4 ms', 'GET /ping 200 1 ms']);
    // A claimed partner name cannot write a line of its own into the log.
    d.starts[0]!.onRequest!({
      method: 'POST',
      path: '/mapper/link',
      status: 200,
      partner: 'PARTNER_BANK 0 ms\nPOST /mapper/unlink 200 7 item(s) PARTNER_BANK',
      items: 0,
      ms: 2,
    });
    expect(d.notes.at(-1)).toBe('POST /mapper/link 200 PARTNER_BANK 0 ms?POST /mapper/unlink 200 7 item(s) PARTNER_BANK 2 ms');
    const quiet = deps({ quiet: true });
    await serve(quiet, INPUT);
    expect(quiet.starts[0]!.onRequest).toBeUndefined();
  });

  it('guarded: partners, token and TLS are loaded and handed to the server, and the start line names them', async () => {
    const d = deps(
      { loadToken: async () => 'x'.repeat(20), loadTlsIdentity: async (cert, key) => ({ cert: `C:${cert}`, key: `K:${key}` }) },
      '::',
    );
    await serve(d, {
      ...INPUT,
      host: '::',
      partner: ['sparctl=p.pem'],
      tokenFile: 't',
      tlsCert: 'c.pem',
      tlsKey: 'k.pem',
      maxBodyBytes: 1536,
      maxItems: 7,
    });
    expect(d.starts[0]).toMatchObject({
      host: '::',
      token: 'x'.repeat(20),
      identity: { cert: 'C:c.pem', key: 'K:k.pem' },
      maxBodyBytes: 1536,
      maxItems: 7,
    });
    expect([...d.starts[0]!.partners.keys()]).toEqual(['PARTNER_SPARCTL']);
    expect(d.notes[0]).toBe(
      'sparctl serve: listening on https://[::]:8123 (local /tmp/m.db; requests authenticated: signatures checked for PARTNER_SPARCTL and bearer token checked; TLS; at most 1536 bytes and 7 items per request)',
    );
  });

  it('--insecure-serve: starts, warns, and every access line says INSECURE, even with -q', async () => {
    const d = deps({ quiet: true, loadToken: async () => 'x'.repeat(20) }, '0.0.0.0');
    await serve(d, { ...INPUT, host: '0.0.0.0', tokenFile: 't', insecureServe: true });
    expect(d.notes[0]).toMatch(/^sparctl serve: INSECURE listening on http:\/\/0\.0\.0\.0:8123 \(/);
    expect(d.notes[1]).toBe(
      "sparctl serve: warning: INSECURE (--insecure-serve): 0.0.0.0 can be reached from other machines and requests travel unencrypted, without TLS; anyone on the network can read beneficiaries' bank accounts in transit",
    );
    d.starts[0]!.onRequest!({ method: 'GET', path: '/ping', status: 200, partner: null, items: 0, ms: 1 });
    expect(d.notes.at(-1)).toBe('INSECURE GET /ping 200 1 ms');
  });

  it('a name taken for loopback that resolved elsewhere closes the server at once and refuses', async () => {
    const d = deps({}, '192.0.2.10');
    delete (d as { stopSignal?: unknown }).stopSignal;
    await expect(serve(d, { ...INPUT, host: 'localhost' })).rejects.toMatchObject({
      code: 'serve.not_loopback',
      message: 'localhost resolved to 192.0.2.10, which is not a loopback address',
    });
    expect(d.events).toEqual(['listen', 'abort']);
    expect(d.notes).toEqual([]);
  });

  it('sizes read as MiB, KiB or bytes', () => {
    expect([10 * 1024 * 1024, 2048, 1000].map(sizeText)).toEqual(['10 MiB', '2 KiB', '1000 bytes']);
  });
});
