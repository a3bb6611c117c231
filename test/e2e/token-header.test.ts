import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listenOnLoopback } from '../helpers/loopback.js';
import { ROOT, cliEnv, runCli } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * A bearer token no HTTP header can carry (a line break in the middle, a control character, a
 * non-ASCII one) is a configuration error, exit 3, said before any request is sent, naming where
 * the token came from and never the token or any part of it — not a network failure (exit 4,
 * "run it again") as undici's refusal of the header read.
 */

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** A server that counts what reaches it; `tokenAnswer` is what its /oauth/token answers. */
async function server(tokenAnswer?: string) {
  const seen: string[] = [];
  const http = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url === '/oauth/token' && tokenAnswer !== undefined) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: tokenAnswer, expires_in: 300 }));
      return;
    }
    res.writeHead(500).end();
  });
  const port = await listenOnLoopback(http);
  closers.push(() => new Promise((resolve) => http.close(() => resolve())));
  return { url: `http://127.0.0.1:${port}`, seen };
}

// Two halves no message may show: neither the token nor a part of it.
const HALVES = ['SECRETHALFONE42', 'SECRETHALFTWO42'];

describe('a bearer token no HTTP header can carry', () => {
  it('from SPARCTL_TOKEN or a token file: exit 3 auth.token_invalid naming its source, nothing sent, nothing of it shown', async () => {
    const target = await server();
    const dir = tempDir();
    const cases: [string, string][] = [
      ['a line break', `${HALVES[0]}\n${HALVES[1]}`],
      ['a line break', `${HALVES[0]}\r\n${HALVES[1]}`],
      ['a control character', `${HALVES[0]}\u0001${HALVES[1]}`],
      ['a control character', `${HALVES[0]}\t${HALVES[1]}`],
      ['a non-ASCII character', `${HALVES[0]}\u20ac${HALVES[1]}`],
      // Latin-1: undici would send it, as another byte than the file holds.
      ['a non-ASCII character', `${HALVES[0]}\u00e9${HALVES[1]}`],
    ];
    for (const [at, [what, token]] of cases.entries()) {
      const file = join(dir, `token-${at}`);
      writeFileSync(file, `${token}\n`, { mode: 0o600 });
      const runs: [Record<string, string>, string][] = [
        [{ SPARCTL_TOKEN_FILE: file }, `the file ${file}`],
        [{ SPARCTL_TOKEN: token }, 'SPARCTL_TOKEN'],
      ];
      for (const [extra, from] of runs) {
        // A write too, once: the header is the same for every request.
        const link = [
          'link',
          '--id',
          'B1',
          '--fa-type',
          'EMAIL_WALLET',
          '--email-address',
          'a@example.org',
          '--wallet-provider-name',
          'M',
          '--wallet-provider-code',
          'M',
        ];
        for (const args of at === 0 ? [['resolve', 'B1'], link] : [['resolve', 'B1']]) {
          const { env } = cliEnv({ SPARCTL_BASE_URL: `${target.url}/api/mapper`, ...extra });
          // One case as a real process (the binary as a user runs it), the others in-process:
          // the same main(), without a Node start each (the suite's time is mostly those).
          const first = at === 0 && args[0] === 'resolve' && 'SPARCTL_TOKEN_FILE' in extra;
          const run = first ? await runCli(args, { env }) : await runMain(args, { env });
          const context = `${what} ${JSON.stringify(extra)} ${args[0]}\n${run.stderr}`;
          expect(run.code, context).toBe(3);
          expect(run.stderr, context).toContain(
            `sparctl: error [auth.token_invalid]: the bearer token from ${from} holds ${what}, which cannot be sent in an HTTP header; no request was sent with it`,
          );
          for (const half of HALVES) expect(`${run.stdout}${run.stderr}`, context).not.toContain(half);
        }
      }
    }
    expect(target.seen).toEqual([]);
  }, 120_000);

  it('from an OAuth2 token endpoint: exit 3, the mapper never called', async () => {
    const target = await server(`${HALVES[0]}\n${HALVES[1]}`);
    const dir = tempDir();
    const secret = join(dir, 'secret');
    writeFileSync(secret, 'client-secret\n', { mode: 0o600 });
    const { env } = cliEnv({
      SPARCTL_BASE_URL: `${target.url}/api/mapper`,
      SPARCTL_OAUTH_TOKEN_URL: `${target.url}/oauth/token`,
      SPARCTL_OAUTH_CLIENT_ID: 'client',
      SPARCTL_OAUTH_CLIENT_SECRET: 'client-secret',
    });
    const run = await runCli(['resolve', 'B1'], { env });
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toContain(
      `sparctl: error [auth.token_invalid]: the bearer token from the token endpoint ${target.url}/oauth/token holds a line break`,
    );
    for (const half of HALVES) expect(`${run.stdout}${run.stderr}`).not.toContain(half);
    expect(target.seen).toEqual(['POST /oauth/token']);
  });

  it('SPARCTL_ODK_TOKEN: import-odk stops with exit 3 before asking Central anything', async () => {
    const central = await server();
    const dir = tempDir();
    const { env } = cliEnv({
      SPARCTL_ODK_URL: central.url,
      SPARCTL_ODK_PROJECT: '3',
      SPARCTL_ODK_FORM: 'spar_enrolment',
      SPARCTL_ODK_TOKEN: `${HALVES[0]}\n${HALVES[1]}`,
    });
    const run = await runCli(
      [
        '--db',
        join(dir, 'mapper.db'),
        '--create',
        'import-odk',
        '--mapping',
        join(ROOT, 'fixtures/enrolment.odk-mapping.json'),
        '--dry-run',
      ],
      { env, cwd: dir },
    );
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toContain(
      'sparctl: error [auth.token_invalid]: the bearer token from SPARCTL_ODK_TOKEN holds a line break, which cannot be sent in an HTTP header',
    );
    for (const half of HALVES) expect(`${run.stdout}${run.stderr}`).not.toContain(half);
    expect(central.seen).toEqual([]);
  });
});

describe('a server that echoes the token it was sent', () => {
  it('is never shown it again: a 401 naming the bearer token, in stderr and -o json, masked', async () => {
    const http = createServer((req, res) => {
      const sent = req.headers.authorization ?? '';
      res
        .writeHead(401, { 'content-type': 'application/json' })
        .end(JSON.stringify({ errors: [{ code: 'G2P-AUT-401', message: `token '${sent.replace(/^Bearer /, '')}' has expired` }] }));
    });
    const port = await listenOnLoopback(http);
    closers.push(() => new Promise((resolve) => http.close(() => resolve())));
    const { env } = cliEnv({ SPARCTL_BASE_URL: `http://127.0.0.1:${port}`, SPARCTL_TOKEN: 'ECHOEDTOKEN123456' });
    for (const output of [[], ['-o', 'json']]) {
      // As a real process once; -o json in process (the same main()), as in the tests above.
      const result = await (output.length === 0 ? runCli : runMain)(['resolve', '--id', 'X1', ...output], { env, cwd: ROOT });
      expect(result.code, result.stderr).toBe(3);
      expect(`${result.stdout}${result.stderr}`).toContain("token '***' has expired");
      expect(`${result.stdout}${result.stderr}`).not.toContain('ECHOEDTOKEN123456');
    }
  });
});

describe('a server that echoes the request path', () => {
  it('is never shown the query key of the URL: a key in the path it echoes, as sent or decoded, masked in stderr and -o json', async () => {
    const http = createServer((req, res) => {
      const query = Object.fromEntries(new URL(req.url ?? '/', 'http://x').searchParams);
      const message = `bad request to ${req.url} with ${JSON.stringify(query)}`;
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'G2P-REQ-102', message }] }));
    });
    const port = await listenOnLoopback(http);
    closers.push(() => new Promise((resolve) => http.close(() => resolve())));
    // A key of 8 characters or more is masked wherever it is echoed; a shorter one (`sig`) where
    // it is echoed as a query parameter, its name before it.
    const url = `http://127.0.0.1:${port}/?subscription-key=SUBKEY_99&sig=a%2Fb7`;
    const { env } = cliEnv({ SPARCTL_TOKEN: 'ECHOEDTOKEN123456' });
    for (const output of [[], ['-o', 'json']]) {
      // As a real process once; -o json in process (the same main()), as in the tests above.
      const result = await (output.length === 0 ? runCli : runMain)(['resolve', '--id', 'X1', '--url', url, ...output], { env, cwd: ROOT });
      expect(result.code, result.stderr).toBe(2);
      const shown = `${result.stdout}${result.stderr}`;
      expect(shown).toContain('bad request to /mapper/resolve?subscription-key=***&sig=***');
      expect(shown).toMatch(/"subscription-key\\?":\\?"\*\*\*\\?"/);
      expect(shown).not.toContain('SUBKEY_99');
      expect(shown).not.toContain('a%2Fb7');
    }
  });
});

describe('a URL parameter value that is also data', () => {
  it('is masked only in what is shown of a server error, never in the answers read: the account is read as stored', async () => {
    const { LocalMapper } = await import('../../src/adapters/sqlite/local-mapper.js');
    const { createSparServer } = await import('../../src/adapters/server/spar-v2-server.js');
    const backing = LocalMapper.open(join(tempDir(), 'served.db'));
    closers.push(() => backing.close());
    const http = createSparServer({ mapper: backing, partners: new Map() });
    const port = await listenOnLoopback(http);
    closers.push(() => new Promise((resolve) => http.close(() => resolve())));
    const url = `http://127.0.0.1:${port}/?tenant=20190815`;
    const { env } = cliEnv();
    const fa = ['--strategy', '2', '--fa-type', 'BANK', '--bank-name', 'Example Bank', '--bank-code', 'EXB', '--branch-name', 'Main'];
    // The links in process (setup); the resolve that reads them back is the binary's.
    const link = (id: string, account: string) =>
      runMain(['link', '--id', id, '--url', url, ...fa, '--branch-code', '1', '--account-number', account], { env, cwd: ROOT });
    // The stored string comes back whole: no false strategy.mismatch over a masked answer.
    expect((await link('Q-1', '2019081599')).code).toBe(0);
    expect((await link('Q-2', '2019081577')).code).toBe(0);
    const resolved = await runCli(['resolve', 'Q-1', 'Q-2', '--url', url, '-o', 'jsonl'], { env, cwd: ROOT });
    expect(
      resolved.stdout
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { fa: { account_number: string } }).fa.account_number),
    ).toEqual(['2019081599', '2019081577']);
  });
});

describe('a token endpoint that fails before anything is sent', () => {
  it('a bulk run: exit 4 auth.token_unavailable, retried, no journal left and no "resume with"; the mapper never called', async () => {
    const seen: string[] = [];
    const http = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url === '/oauth/token') {
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' }).end('{"error":"temporarily_unavailable"}');
        return;
      }
      res.writeHead(500).end();
    });
    const port = await listenOnLoopback(http);
    closers.push(() => new Promise((resolve) => http.close(() => resolve())));
    const dir = tempDir();
    const header = readFileSync(join(ROOT, 'fixtures', 'beneficiaries.csv'), 'utf8').split('\n')[0]!;
    const rows = ['TK1', 'TK2'].map((id, i) => `${id},Person ${i},,BANK,2,Example Bank,EXB,Main,0001,000000000${i},,,,`);
    writeFileSync(join(dir, 'in.csv'), `${header}\n${rows.join('\n')}\n`);
    const { env } = cliEnv({
      SPARCTL_BASE_URL: `http://127.0.0.1:${port}`,
      SPARCTL_OAUTH_TOKEN_URL: `http://127.0.0.1:${port}/oauth/token`,
      SPARCTL_OAUTH_CLIENT_ID: 'sparctl',
      SPARCTL_OAUTH_CLIENT_SECRET: 'client-secret-1234',
    });
    for (const output of [[], ['-o', 'json']]) {
      seen.length = 0;
      const run = await runMain(['link', '--file', 'in.csv', '--retries', '1', ...output], { env, cwd: dir });
      expect(run.code, run.stderr).toBe(4);
      expect(`${run.stdout}${run.stderr}`).toContain('auth.token_unavailable');
      expect(`${run.stdout}${run.stderr}`).not.toMatch(/resume with|resumeHint|journal/i);
      // Asked twice (once retried), and nothing else.
      expect(seen).toEqual(['POST /oauth/token', 'POST /oauth/token']);
      const journals = join(env['XDG_STATE_HOME']!, 'sparctl', 'journals');
      expect(existsSync(journals) ? readdirSync(journals) : []).toEqual([]);
    }
  });
});

describe('an empty bearer token', () => {
  it('from a token file holding only line breaks: exit 3 auth.token_invalid, nothing sent (it went out as "Bearer ")', async () => {
    const target = await server();
    const file = join(tempDir(), 'token');
    writeFileSync(file, '\n\n', { mode: 0o600 });
    const { env } = cliEnv({ SPARCTL_BASE_URL: `${target.url}/api/mapper`, SPARCTL_TOKEN_FILE: file });
    const run = await runCli(['resolve', 'B1'], { env });
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toContain(
      `sparctl: error [auth.token_invalid]: the bearer token from the file ${file} is empty; no request was sent with it`,
    );
    expect(target.seen).toEqual([]);
  });
});
