import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Command } from 'commander';
import { BODY_BUDGET_FACTOR, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_ITEMS, MAX_CONNECTIONS, bearerTokenProblem, isLoopbackHost } from '../../adapters/server/guard.js';
import { ConfigError, ExitCode, UsageError } from '../../core/errors.js';
import { loadContext, openMapper, writeLinksOnThread, type GlobalOptions } from '../context.js';
import type { Io } from '../io.js';
import { portNumber, positiveInt } from '../parse.js';

interface ServeOptions {
  host: string;
  port: number;
  partner: string[];
  tokenFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  insecureServe?: boolean;
  maxBodyBytes: number;
  maxItems: number;
}

/** `sparctl serve`: the local mapper over HTTP, speaking the SPAR v2 partner API. */
export function serveCommand(io: Io, setExit: (code: number) => void): Command {
  return new Command('serve')
    .description('run the local mapper as a SPAR v2 HTTP server (for development, training and CI)')
    .option('--host <address>', 'address to listen on; anything but loopback needs authentication and TLS', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0 = any free port)', portNumber('--port'), 8000)
    .option('--partner <name=pem>', 'accept requests signed by this partner (mnemonic or PARTNER_ID = certificate or public key PEM file); repeatable', collect, [])
    .option('--token-file <path>', 'require "Authorization: Bearer TOKEN" on every request, TOKEN read from this file')
    .option('--tls-cert <pem>', 'serve HTTPS with this certificate (chain) PEM file; needs --tls-key')
    .option('--tls-key <pem>', 'the private key PEM file of --tls-cert')
    .option('--insecure-serve', 'listen on a non-loopback address without authentication or TLS (warns on every log line)')
    .option('--max-body-bytes <n>', `largest request body in bytes (${sizeText(DEFAULT_MAX_BODY_BYTES)})`, positiveInt('--max-body-bytes'), DEFAULT_MAX_BODY_BYTES)
    .option('--max-items <n>', 'most items in one request', positiveInt('--max-items'), DEFAULT_MAX_ITEMS)
    .addHelpText(
      'after',
      `
Serves POST /mapper/link, /mapper/update, /mapper/resolve, /mapper/unlink and GET /ping with
SPAR v2's envelope and reason codes, on the local mapper database (--db or the profile).
With --partner, every request must carry a valid RS256 detached-JWS Signature header from that
partner (looked up as PARTNER_<MNEMONIC>), as on SPAR; a request that does not is answered
200 ERROR rjct.request.validation. With --token-file, every request but GET /ping must carry
the token as "Authorization: Bearer TOKEN"; one that does not gets 401 G2P-AUT-401.

On 127.0.0.1, ::1 or localhost neither is required (the start line says whether requests are
authenticated). On any other address (0.0.0.0, a LAN address, a host name) serve refuses to
start, exit 2, unless requests are authenticated (--partner or --token-file) AND TLS is on
(--tls-cert and --tls-key) — or --insecure-serve is given, and then the start line and every
access-log line say INSECURE (-q does not silence the access log then).

Limits (the start line repeats them): a body over --max-body-bytes gets 413 G2P-REQ-413 as
soon as that shows, and the rest of it is not read; more than --max-items items gets 413
G2P-REQ-413; bodies held at once are capped at ${BODY_BUDGET_FACTOR}× --max-body-bytes (503 G2P-REQ-503
beyond, retry shortly); a request must arrive within 60 s; at most ${MAX_CONNECTIONS} connections at once.
Stops cleanly on Ctrl-C or SIGTERM: in-flight requests finish, the database is closed.

Examples:
  $ sparctl serve
  $ sparctl --db /srv/spar-training.db serve --port 8000 --partner sparctl=partner-cert.pem
  $ sparctl serve --host 0.0.0.0 --port 8443 --partner sparctl=partner-cert.pem \\
      --tls-cert server-cert.pem --tls-key server-key.pem
  $ curl -s http://127.0.0.1:8000/ping`,
    )
    .action(async (options: ServeOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const { refuseOutputFlag } = await import('../output.js');
      refuseOutputFlag('serve', globals.output, 'it answers HTTP requests and logs them on stderr');
      if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
        throw new UsageError('serve.tls_incomplete', `${options.tlsCert === undefined ? '--tls-key' : '--tls-cert'} needs ${options.tlsCert === undefined ? '--tls-cert' : '--tls-key'} too`, {
          hint: 'give the certificate and its private key: --tls-cert CERT.pem --tls-key KEY.pem',
        });
      }
      const loopback = isLoopbackHost(options.host);
      const authenticated = options.partner.length > 0 || options.tokenFile !== undefined;
      const tls = options.tlsCert !== undefined;
      const exposed = loopback ? [] : [...(authenticated ? [] : ['authentication' as const]), ...(tls ? [] : ['tls' as const])];
      if (exposed.length > 0 && !options.insecureServe) throw refusal(options.host, exposed, globals.insecure === true);

      const context = await loadContext(io, globals);
      if (context.resolved.settings.mode !== 'local') {
        throw new ConfigError('serve.remote_profile', `serve needs a local mapper, but the target is remote (${context.resolved.target.source})`, { hint: 'pass --db PATH or a local profile' });
      }
      const partners = await loadPartners(options.partner);
      const token = options.tokenFile === undefined ? undefined : await loadToken(io, options.tokenFile);
      const identity = tls ? await loadTlsIdentity(io, options.tlsCert!, options.tlsKey!) : undefined;
      const mapper = await openMapper(context, 'write');
      // Links are inserted and audited on a second thread while this one parses the next requests.
      await writeLinksOnThread(io, mapper);
      const insecure = exposed.length > 0;
      const logPrefix = insecure ? 'INSECURE ' : '';
      const { createSparServer } = await import('../../adapters/server/spar-v2-server.js');
      const server = createSparServer({
        mapper,
        partners,
        maxBodyBytes: options.maxBodyBytes,
        maxItems: options.maxItems,
        ...(token === undefined ? {} : { bearerToken: token }),
        ...(identity === undefined ? {} : { tls: identity }),
        ...(globals.quiet && !insecure
          ? {}
          : { onRequest: (l) => io.stderr.write(`${logPrefix}${l.method} ${l.path} ${l.status}${l.items ? ` ${l.items} item(s)` : ''}${l.partner ? ` ${l.partner}` : ''} ${l.ms} ms\n`) }),
      });
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', (error: NodeJS.ErrnoException) =>
            reject(
              error.code === 'EADDRINUSE'
                ? new UsageError('serve.port_in_use', `${options.host}:${options.port} is already in use`, { hint: 'choose another --port' })
                : new ConfigError('serve.listen_failed', `cannot listen on ${options.host}:${options.port}: ${error.code ?? error.message}`),
            ),
          );
          server.listen(options.port, options.host, resolve);
        });
        // A name taken for loopback (localhost) must have resolved to loopback.
        if (loopback && !isLoopbackHost((server.address() as AddressInfo).address)) {
          server.close();
          throw new UsageError('serve.not_loopback', `${options.host} resolved to ${(server.address() as AddressInfo).address}, which is not a loopback address`, { hint: 'pass --host 127.0.0.1' });
        }
      } catch (error) {
        await mapper.close();
        throw error;
      }
      // After start-up, a failure to accept (e.g. out of file descriptors) is reported, not fatal.
      server.on('error', (error: NodeJS.ErrnoException) => io.stderr.write(`sparctl serve: ${error.code ?? error.message}\n`));
      const { port } = server.address() as AddressInfo;
      const url = `${tls ? 'https' : 'http'}://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;
      const auth = [...(partners.size > 0 ? [`signatures checked for ${[...partners.keys()].join(', ')}`] : []), ...(token === undefined ? [] : ['bearer token checked'])];
      const how = [
        mapper.target,
        auth.length > 0 ? `requests authenticated: ${auth.join(' and ')}` : `requests NOT authenticated${loopback ? ', loopback only' : ''}`,
        tls ? 'TLS' : 'plain HTTP',
        `at most ${sizeText(options.maxBodyBytes)} and ${options.maxItems} items per request`,
      ];
      io.stderr.write(`sparctl serve: ${insecure ? 'INSECURE ' : ''}listening on ${url} (${how.join('; ')})\n`);
      if (insecure) {
        const what = exposed.length === 2 ? 'requests are neither authenticated nor encrypted' : exposed[0] === 'authentication' ? 'requests are not authenticated' : 'requests travel unencrypted, without TLS';
        io.stderr.write(
          `sparctl serve: warning: INSECURE (--insecure-serve): ${options.host} can be reached from other machines and ${what}; anyone on the network can ${exposed.includes('authentication') ? "read and change beneficiaries' bank accounts" : "read beneficiaries' bank accounts in transit"}\n`,
        );
      }

      const signal = await new Promise<string>((resolve) => {
        process.once('SIGINT', () => resolve('SIGINT'));
        process.once('SIGTERM', () => resolve('SIGTERM'));
      });
      io.stderr.write(`sparctl serve: ${signal}, finishing in-flight requests\n`);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await mapper.close();
      io.stderr.write('sparctl serve: stopped\n');
      setExit(ExitCode.ok);
    });
}

/** The one line for a non-loopback address without authentication or TLS. */
function refusal(host: string, missing: readonly ('authentication' | 'tls')[], globalInsecure: boolean): UsageError {
  const what = missing.length === 2 ? 'requests would be neither authenticated nor encrypted' : missing[0] === 'authentication' ? 'requests would not be authenticated' : 'requests would travel unencrypted, without TLS';
  const add = [...(missing.includes('authentication') ? ['--partner NAME=PEM or --token-file PATH'] : []), ...(missing.includes('tls') ? ['--tls-cert PEM --tls-key PEM'] : [])];
  const also = globalInsecure ? '; --insecure is about certificates of servers sparctl connects to, not this one' : '';
  return new UsageError('serve.unguarded', `refusing to serve on ${host === '' ? 'every interface' : host}, which other machines can reach: ${what}`, {
    hint: `add ${add.join(', and ')}; or pass --insecure-serve on a network you trust${also}`,
  });
}

/** 10485760 → "10 MiB"; sizes that are not whole KiB or MiB in bytes. */
function sizeText(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** A file holding a secret should be its owner's only: say so when it is not. */
function warnIfExposed(io: Io, flag: string, file: string): void {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch {
    return;
  }
  if ((mode & 0o077) !== 0) io.stderr.write(`sparctl: warning: ${flag} ${file} can be read by other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); run: chmod 600 ${file}\n`);
}

/** The bearer token: the file's content without surrounding white space. Never printed. */
async function loadToken(io: Io, file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError('serve.token_unreadable', `--token-file: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const token = text.trim();
  const problem = bearerTokenProblem(token);
  if (problem) throw new UsageError('serve.token_invalid', `--token-file ${file} ${problem}`, { hint: `make one with: openssl rand -hex 32 > ${file}; chmod 600 ${file}` });
  warnIfExposed(io, '--token-file', file);
  return token;
}

/** The certificate and key for HTTPS, checked to belong together. The key is never echoed. */
async function loadTlsIdentity(io: Io, certFile: string, keyFile: string): Promise<{ cert: string; key: string }> {
  const { X509Certificate, createPrivateKey } = await import('node:crypto');
  const read = async (flag: string, file: string) => {
    try {
      return await readFile(file, 'utf8');
    } catch (error) {
      throw new UsageError('serve.tls_unreadable', `${flag}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  const cert = await read('--tls-cert', certFile);
  const key = await read('--tls-key', keyFile);
  let certificate: InstanceType<typeof X509Certificate>;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    throw new UsageError('serve.tls_cert_invalid', `--tls-cert ${certFile} holds no PEM certificate`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key, format: 'pem' });
  } catch {
    throw new UsageError('serve.tls_key_invalid', `--tls-key ${keyFile} is not a PEM private key (or it is encrypted)`, { hint: 'an unencrypted PKCS#8 or PKCS#1 key, e.g. from openssl req -nodes' });
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new UsageError('serve.tls_mismatch', `--tls-key ${keyFile} is not the key of the certificate in ${certFile}`);
  }
  warnIfExposed(io, '--tls-key', keyFile);
  if (Date.parse(certificate.validTo) < Date.now()) io.stderr.write(`sparctl: warning: --tls-cert ${certFile} expired on ${certificate.validTo}; clients will refuse it\n`);
  return { cert, key };
}

async function loadPartners(specs: readonly string[]): Promise<Map<string, KeyObject[]>> {
  const { publicKeyFromPem } = await import('../../adapters/http/signing.js');
  const { partnerIdOf } = await import('../../adapters/server/spar-v2-server.js');
  const partners = new Map<string, KeyObject[]>();
  for (const spec of specs) {
    const at = spec.indexOf('=');
    if (at <= 0) throw new UsageError('serve.partner_syntax', `--partner ${spec}: expected NAME=PEMFILE, e.g. --partner sparctl=cert.pem`);
    const name = spec.slice(0, at);
    const file = spec.slice(at + 1);
    const id = name.startsWith('PARTNER_') ? name : partnerIdOf(name);
    let key: KeyObject;
    try {
      key = publicKeyFromPem(await readFile(file, 'utf8'));
    } catch (error) {
      throw new UsageError('serve.partner_key', `--partner ${name}: cannot read a certificate or public key from ${file} (${(error as NodeJS.ErrnoException).code ?? 'not PEM'})`);
    }
    partners.set(id, [...(partners.get(id) ?? []), key]);
  }
  return partners;
}
