import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { ServeDeps } from '../../app/serve.js';
import { isLoopbackHost } from '../../adapters/server/guard.js';
import { ConfigError, SparctlError, UsageError } from '../../core/errors.js';
import { redactQuery } from '../../config/redact.js';
import { loadContext, openMapper, writeLinksOnThread, type CommandContext, type GlobalOptions } from '../context.js';
import { onStopSignals, type Io } from '../io.js';
import { STOP_SIGNALS } from '../../core/stop-signals.js';

/**
 * What the serve use case needs: the composition of app/serve.ts. The settings are read when
 * the use case asks for the target (after the guard), and the server is created and started
 * here, on the local mapper they name.
 */
export function serveDeps(io: Io, globals: GlobalOptions): ServeDeps {
  let context: CommandContext | undefined;
  return {
    isLoopbackHost,
    globalInsecure: globals.insecure === true,
    quiet: globals.quiet === true,
    target: async () => {
      context = await loadContext(io, globals);
      return { mode: context.resolved.settings.mode, source: context.resolved.target.source };
    },
    loadPartners,
    loadToken: (file) => loadToken(io, file),
    loadTlsIdentity: (cert, key) => loadTlsIdentity(io, cert, key),
    listen: async (start) => {
      const mapper = await openMapper(context!, 'write');
      // Links are inserted and audited on a second thread while this one parses the next requests.
      await writeLinksOnThread(io, mapper);
      const { createSparServer, stopSparServer } = await import('../../adapters/server/spar-v2-server.js');
      const server = createSparServer({
        mapper,
        partners: start.partners as ReadonlyMap<string, readonly KeyObject[]>,
        maxBodyBytes: start.maxBodyBytes,
        maxItems: start.maxItems,
        ...(start.token === undefined ? {} : { bearerToken: start.token }),
        ...(start.identity === undefined ? {} : { tls: start.identity }),
        ...(start.onRequest === undefined ? {} : { onRequest: start.onRequest }),
        // Said even with -q: the client only hears "Unknown Error" (a full disk, a database gone).
        onFailure: ({ method, path, error }) => io.stderr.write(`${failureLine(method, path, error)}\n`),
      });
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', (error: NodeJS.ErrnoException) =>
            reject(
              error.code === 'EADDRINUSE'
                ? new UsageError('serve.port_in_use', `${start.host}:${start.port} is already in use`, { hint: 'choose another --port' })
                : new ConfigError('serve.listen_failed', `cannot listen on ${start.host}:${start.port}: ${error.code ?? error.message}`),
            ),
          );
          server.listen(start.port, start.host, resolve);
        });
      } catch (error) {
        await mapper.close();
        throw error;
      }
      // After start-up, a failure to accept (e.g. out of file descriptors) is reported, not fatal.
      server.on('error', (error: NodeJS.ErrnoException) => io.stderr.write(`sparctl serve: ${error.code ?? error.message}\n`));
      const { address, port } = server.address() as AddressInfo;
      return {
        target: mapper.target,
        address,
        port,
        stop: async () => {
          // Bounded: a client that keeps sending, or stalls, cannot keep the server up (or writing).
          await stopSparServer(server);
          await mapper.close();
        },
        abort: async () => {
          server.close();
          await mapper.close();
        },
      };
    },
    // SIGHUP too (an SSH session that went away): it killed serve at once, mid-request.
    stopSignal: () =>
      new Promise<string>((resolve) => {
        let stopping = false;
        onStopSignals((signal) => {
          if (stopping) process.exit(STOP_SIGNALS[signal].exitCode);
          stopping = true;
          resolve(signal);
        });
      }),
    note: (line) => io.stderr.write(`${line}\n`),
  };
}

/** A file holding a secret should be its owner's only: say so when it is not. */
function warnIfExposed(io: Io, flag: string, file: string): void {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch {
    return;
  }
  if ((mode & 0o077) !== 0)
    io.stderr.write(
      `sparctl: warning: ${flag} ${file} can be read by other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); run: chmod 600 ${file}\n`,
    );
}

/** The bearer token: the file's content without surrounding white space. Never printed. */
async function loadToken(io: Io, file: string): Promise<string> {
  const { bearerTokenProblem } = await import('../../adapters/server/guard.js');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(
      'serve.token_unreadable',
      `--token-file: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  const token = text.trim();
  const problem = bearerTokenProblem(token);
  if (problem)
    throw new UsageError('serve.token_invalid', `--token-file ${file} ${problem}`, {
      hint: `make one with: openssl rand -hex 32 > ${file}; chmod 600 ${file}`,
    });
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
    throw new UsageError('serve.tls_key_invalid', `--tls-key ${keyFile} is not a PEM private key (or it is encrypted)`, {
      hint: 'an unencrypted PKCS#8 or PKCS#1 key, e.g. from openssl req -nodes',
    });
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new UsageError('serve.tls_mismatch', `--tls-key ${keyFile} is not the key of the certificate in ${certFile}`);
  }
  warnIfExposed(io, '--tls-key', keyFile);
  if (Date.parse(certificate.validTo) < Date.now())
    io.stderr.write(`sparctl: warning: --tls-cert ${certFile} expired on ${certificate.validTo}; clients will refuse it\n`);
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
      throw new UsageError(
        'serve.partner_key',
        `--partner ${name}: cannot read a certificate or public key from ${file} (${(error as NodeJS.ErrnoException).code ?? 'not PEM'})`,
      );
    }
    partners.set(id, [...(partners.get(id) ?? []), key]);
  }
  return partners;
}

/**
 * A request answered 500, with the reason the client is not told: the error's code and message
 * (`disk.full`, naming the database and SQLite's reason), or, for what is not the surroundings'
 * fault, that it is a bug. The path's query values are masked, as in the access log.
 */
export function failureLine(method: string, path: string, error: unknown): string {
  const where = `${method} ${redactQuery(path)}`;
  if (error instanceof SparctlError) return `sparctl serve: ${where} answered 500: error [${error.code}]: ${error.message}`;
  const message = error instanceof Error ? error.message : String(error);
  return `sparctl serve: ${where} answered 500: internal error: ${message} (a bug in sparctl: please report it)`;
}
