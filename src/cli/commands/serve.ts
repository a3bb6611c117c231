import { Command } from 'commander';
import { BODY_BUDGET_FACTOR, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_ITEMS, MAX_CONNECTIONS } from '../../adapters/server/guard.js';
import { sizeText } from '../../app/serve.js';
import type { GlobalOptions } from '../context.js';
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

/** `sparctl serve`: parse, run the serve use case (app/serve.ts) until a signal, exit. */
export function serveCommand(io: Io, setExit: (code: number) => void): Command {
  return new Command('serve')
    .description('run the local mapper as a SPAR v2 HTTP server (for development, training and CI)')
    .option('--host <address>', 'address to listen on; anything but loopback needs authentication and TLS', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0 = any free port)', portNumber('--port'), 8000)
    .option(
      '--partner <name=pem>',
      'accept requests signed by this partner (mnemonic or PARTNER_ID = certificate or public key PEM file); repeatable',
      collect,
      [],
    )
    .option('--token-file <path>', 'require "Authorization: Bearer TOKEN" on every request, TOKEN read from this file')
    .option('--tls-cert <pem>', 'serve HTTPS with this certificate (chain) PEM file; needs --tls-key')
    .option('--tls-key <pem>', 'the private key PEM file of --tls-cert')
    .option('--insecure-serve', 'listen on a non-loopback address without authentication or TLS (warns on every log line)')
    .option(
      '--max-body-bytes <n>',
      `largest request body in bytes (${sizeText(DEFAULT_MAX_BODY_BYTES)})`,
      positiveInt('--max-body-bytes'),
      DEFAULT_MAX_BODY_BYTES,
    )
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
Stops cleanly on Ctrl-C, SIGTERM, SIGHUP or SIGQUIT: in-flight requests finish, the database is
closed, exit 0; a second signal stops at once.

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
      const { serveDeps } = await import('../compose/serve.js');
      const { serve } = await import('../../app/serve.js');
      setExit((await serve(serveDeps(io, globals), options)).exitCode);
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
