import { ExitCode, UsageError } from '../core/errors.js';
import { redactQuery } from '../config/redact.js';

/**
 * `serve`'s use case: the local mapper as a SPAR v2 server, guarded. Before anything is read,
 * the guard: an address other machines can reach needs authentication (--partner or
 * --token-file) and TLS, or --insecure-serve. Then a local target, the partners, the token and
 * the TLS identity; the server starts (the composition root listens); a name taken for loopback
 * must have resolved to loopback. The start line says how it is guarded; insecure, every access
 * line says so and -q does not silence them. It runs until a signal, then stops cleanly.
 */

export interface ServeInput {
  readonly host: string;
  readonly port: number;
  readonly partner: readonly string[];
  readonly tokenFile?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly insecureServe?: boolean;
  readonly maxBodyBytes: number;
  readonly maxItems: number;
}

/** One request answered, for the access log. */
export interface ServedRequest {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly partner: string | null;
  readonly items: number;
  readonly ms: number;
}

/** Partners by PARTNER_ID, each with its keys (opaque here). */
export type Partners = ReadonlyMap<string, readonly object[]>;

/** What the server is started with. */
export interface ServerStart {
  readonly host: string;
  readonly port: number;
  readonly partners: Partners;
  readonly token?: string;
  readonly identity?: { readonly cert: string; readonly key: string };
  readonly maxBodyBytes: number;
  readonly maxItems: number;
  /** Told every request answered; absent: no access log. */
  readonly onRequest?: (request: ServedRequest) => void;
}

/** A server listening. */
export interface Listening {
  /** The mapper served, as it names itself. */
  readonly target: string;
  /** The address and port it listens on (the port chosen when 0 was asked for). */
  readonly address: string;
  readonly port: number;
  /** Finishes the requests in flight, then closes the server and the mapper. */
  stop(): Promise<void>;
  /** Closes at once (start-up failed after listening). */
  abort(): Promise<void>;
}

export interface ServeDeps {
  readonly isLoopbackHost: (host: string) => boolean;
  /** The global --insecure was given (it is about other servers' certificates, not this one). */
  readonly globalInsecure: boolean;
  readonly quiet: boolean;
  /** Reads the settings: the target's mode and the source that named it. */
  readonly target: () => Promise<{ readonly mode: 'local' | 'remote'; readonly source: string }>;
  readonly loadPartners: (specs: readonly string[]) => Promise<Partners>;
  /** The bearer token in a file, checked. */
  readonly loadToken: (file: string) => Promise<string>;
  /** The certificate and key for HTTPS, checked to belong together. */
  readonly loadTlsIdentity: (certFile: string, keyFile: string) => Promise<{ cert: string; key: string }>;
  /** Opens the local mapper and listens; the SparctlError a failure to listen is. */
  readonly listen: (start: ServerStart) => Promise<Listening>;
  /** Resolves with the name of the signal that asks to stop (SIGINT, SIGTERM, SIGHUP, SIGQUIT). */
  readonly stopSignal: () => Promise<string>;
  /** A line on stderr. */
  readonly note: (line: string) => void;
}

export type Exposure = 'authentication' | 'tls';

export interface Guard {
  readonly loopback: boolean;
  readonly tls: boolean;
  /** What an address other machines can reach lacks (empty on loopback, or when guarded). */
  readonly exposed: readonly Exposure[];
}

/** The guard: a TLS pair given whole, and an address other machines can reach guarded or allowed insecure on purpose. */
export function serveGuard(input: ServeInput, isLoopbackHost: (host: string) => boolean, globalInsecure: boolean): Guard {
  if ((input.tlsCert === undefined) !== (input.tlsKey === undefined)) {
    throw new UsageError(
      'serve.tls_incomplete',
      `${input.tlsCert === undefined ? '--tls-key' : '--tls-cert'} needs ${input.tlsCert === undefined ? '--tls-cert' : '--tls-key'} too`,
      {
        hint: 'give the certificate and its private key: --tls-cert CERT.pem --tls-key KEY.pem',
      },
    );
  }
  const loopback = isLoopbackHost(input.host);
  const authenticated = input.partner.length > 0 || input.tokenFile !== undefined;
  const tls = input.tlsCert !== undefined;
  const exposed: Exposure[] = loopback ? [] : [...(authenticated ? [] : ['authentication' as const]), ...(tls ? [] : ['tls' as const])];
  if (exposed.length > 0 && !input.insecureServe) throw refusal(input.host, exposed, globalInsecure);
  return { loopback, tls, exposed };
}

export async function serve(deps: ServeDeps, input: ServeInput): Promise<{ exitCode: number }> {
  const { loopback, tls, exposed } = serveGuard(input, deps.isLoopbackHost, deps.globalInsecure);
  const target = await deps.target();
  if (target.mode !== 'local') {
    throw new UsageError('serve.remote_profile', `serve needs a local mapper, but the target is remote (${target.source})`, {
      hint: 'pass --db PATH or a local profile',
    });
  }
  const partners = await deps.loadPartners(input.partner);
  const token = input.tokenFile === undefined ? undefined : await deps.loadToken(input.tokenFile);
  const identity = tls ? await deps.loadTlsIdentity(input.tlsCert!, input.tlsKey!) : undefined;
  const insecure = exposed.length > 0;
  const server = await deps.listen({
    host: input.host,
    port: input.port,
    partners,
    ...(token === undefined ? {} : { token }),
    ...(identity === undefined ? {} : { identity }),
    maxBodyBytes: input.maxBodyBytes,
    maxItems: input.maxItems,
    // Insecure, every access line says so, and -q does not silence them.
    ...(deps.quiet && !insecure ? {} : { onRequest: (request: ServedRequest) => deps.note(accessLine(request, insecure)) }),
  });
  // A name taken for loopback (localhost) must have resolved to loopback.
  if (loopback && !deps.isLoopbackHost(server.address)) {
    await server.abort();
    throw new UsageError('serve.not_loopback', `${input.host} resolved to ${server.address}, which is not a loopback address`, {
      hint: 'pass --host 127.0.0.1',
    });
  }
  const url = `${tls ? 'https' : 'http'}://${input.host.includes(':') ? `[${input.host}]` : input.host}:${server.port}`;
  const auth = [
    ...(partners.size > 0 ? [`signatures checked for ${[...partners.keys()].join(', ')}`] : []),
    ...(token === undefined ? [] : ['bearer token checked']),
  ];
  const how = [
    server.target,
    auth.length > 0 ? `requests authenticated: ${auth.join(' and ')}` : `requests NOT authenticated${loopback ? ', loopback only' : ''}`,
    tls ? 'TLS' : 'plain HTTP',
    `at most ${sizeText(input.maxBodyBytes)} and ${input.maxItems} items per request`,
  ];
  // Listened for before "listening" is said: a supervisor (or a test) that stops serve as soon as
  // it reads that line could otherwise find no listener yet, and kill it mid-start.
  const stopped = deps.stopSignal();
  deps.note(`sparctl serve: ${insecure ? 'INSECURE ' : ''}listening on ${url} (${how.join('; ')})`);
  if (insecure) {
    const what =
      exposed.length === 2
        ? 'requests are neither authenticated nor encrypted'
        : exposed[0] === 'authentication'
          ? 'requests are not authenticated'
          : 'requests travel unencrypted, without TLS';
    deps.note(
      `sparctl serve: warning: INSECURE (--insecure-serve): ${input.host} can be reached from other machines and ${what}; anyone on the network can ${exposed.includes('authentication') ? "read and change beneficiaries' bank accounts" : "read beneficiaries' bank accounts in transit"}`,
    );
  }
  const signal = await stopped;
  deps.note(`sparctl serve: ${signal}, finishing in-flight requests`);
  await server.stop();
  deps.note('sparctl serve: stopped');
  return { exitCode: ExitCode.ok };
}

/** One access-log line. */
export function accessLine(request: ServedRequest, insecure: boolean): string {
  // A gateway key or token in the query (`?subscription-key=…`) is a secret: only its name is logged.
  // The partner is the name a request claims (its sender_app_mnemonic): a line break or a control
  // character in it could write a line of its own into the log, one that reads as accepted.
  const partner = request.partner?.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/gu, '?');
  return `${insecure ? 'INSECURE ' : ''}${request.method} ${redactQuery(request.path)} ${request.status}${request.items ? ` ${request.items} item(s)` : ''}${partner ? ` ${partner}` : ''} ${request.ms} ms`;
}

/** The one line for a non-loopback address without authentication or TLS. */
function refusal(host: string, missing: readonly Exposure[], globalInsecure: boolean): UsageError {
  const what =
    missing.length === 2
      ? 'requests would be neither authenticated nor encrypted'
      : missing[0] === 'authentication'
        ? 'requests would not be authenticated'
        : 'requests would travel unencrypted, without TLS';
  const add = [
    ...(missing.includes('authentication') ? ['--partner NAME=PEM or --token-file PATH'] : []),
    ...(missing.includes('tls') ? ['--tls-cert PEM --tls-key PEM'] : []),
  ];
  const also = globalInsecure ? '; --insecure is about certificates of servers sparctl connects to, not this one' : '';
  return new UsageError(
    'serve.unguarded',
    `refusing to serve on ${host === '' ? 'every interface' : host}, which other machines can reach: ${what}`,
    {
      hint: `add ${add.join(', and ')}; or pass --insecure-serve on a network you trust${also}`,
    },
  );
}

/** 10485760 → "10 MiB"; sizes that are not whole KiB or MiB in bytes. */
export function sizeText(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}
