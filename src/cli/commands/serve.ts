import { readFile } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Command } from 'commander';
import { ConfigError, ExitCode, UsageError } from '../../core/errors.js';
import { loadContext, openMapper, writeLinksOnThread, type GlobalOptions } from '../context.js';
import type { Io } from '../io.js';
import { portNumber } from '../parse.js';

interface ServeOptions {
  host: string;
  port: number;
  partner: string[];
}

/** `sparctl serve`: the local mapper over HTTP, speaking the SPAR v2 partner API. */
export function serveCommand(io: Io, setExit: (code: number) => void): Command {
  return new Command('serve')
    .description('run the local mapper as a SPAR v2 HTTP server (for development, training and CI)')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0 = any free port)', portNumber('--port'), 8000)
    .option('--partner <name=pem>', 'accept requests signed by this partner (mnemonic or PARTNER_ID = certificate or public key PEM file); repeatable', collect, [])
    .addHelpText(
      'after',
      `
Serves POST /mapper/link, /mapper/update, /mapper/resolve, /mapper/unlink and GET /ping with
SPAR v2's envelope and reason codes, on the local mapper database (--db or the profile).
With --partner, every request must carry a valid RS256 detached-JWS Signature header from that
partner (looked up as PARTNER_<MNEMONIC>), as on SPAR; without it, requests are not verified.
Stops cleanly on Ctrl-C or SIGTERM: in-flight requests finish, the database is closed.

Examples:
  $ sparctl serve
  $ sparctl --db /srv/spar-training.db serve --port 8000 --partner sparctl=partner-cert.pem
  $ curl -s http://127.0.0.1:8000/ping`,
    )
    .action(async (options: ServeOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const context = await loadContext(io, globals);
      if (context.resolved.settings.mode !== 'local') {
        throw new ConfigError('serve.remote_profile', `serve needs a local mapper, but profile "${context.resolved.settings.profile}" is remote`, { hint: 'pass --db PATH or a local profile' });
      }
      const partners = await loadPartners(options.partner);
      const mapper = await openMapper(context, 'write');
      // Links are inserted and audited on a second thread while this one parses the next requests.
      await writeLinksOnThread(io, mapper);
      const { createSparServer } = await import('../../adapters/server/spar-v2-server.js');
      const server = createSparServer({
        mapper,
        partners,
        ...(globals.quiet ? {} : { onRequest: (l) => io.stderr.write(`${l.method} ${l.path} ${l.status}${l.items ? ` ${l.items} item(s)` : ''}${l.partner ? ` ${l.partner}` : ''} ${l.ms} ms\n`) }),
      });
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
      const { port } = server.address() as AddressInfo;
      const checked = partners.size > 0 ? `signatures checked for ${[...partners.keys()].join(', ')}` : 'signatures not checked';
      io.stderr.write(`sparctl serve: listening on http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port} (${mapper.target}; ${checked})\n`);

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

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
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
