/**
 * Security review, as tests: no secret (token, client secret, ODK password, private key, a
 * Signature or Authorization value) appears in any output or file sparctl writes, even with
 * --verbose; key files readable by others are warned about; TLS is verified unless --insecure
 * (which warns), and a private CA can be trusted with --ca-file.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSparServer } from '../../src/adapters/server/spar-v2-server.js';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { startFakeCentral } from '../helpers/fake-central.js';
import { ROOT, cliEnv, type CliResult } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { bankFlags } from '../helpers/records.js';
import { listenOnLoopback } from '../helpers/loopback.js';
import { tempDir } from '../helpers/tmp.js';

/** Every file under `dir`, as text. */
function filesUnder(dir: string): { path: string; text: string }[] {
  return readdirSync(dir, { recursive: true })
    .map((name) => join(dir, String(name)))
    .filter((path) => statSync(path).isFile())
    .map((path) => ({ path, text: readFileSync(path).toString('latin1') }));
}

describe('secrets never leak', () => {
  it('runs the commands verbosely with known secrets; none appears in stdout, stderr or any file written', async () => {
    const dir = tempDir('sparctl-secrets-');
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    writeFileSync(join(dir, 'partner-key.pem'), keyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'partner-public.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    const secrets = {
      token: 'TOKEN-do-not-print-7f3a9c',
      clientSecret: 'CLIENT-SECRET-do-not-print-51de',
      odkPassword: 'ODK-PASSWORD-do-not-print-c0ffee',
      // A line from the middle of the private key.
      keyLine: keyPem.split('\n')[5]!,
      // A password in the mapper's URL (user-info), and in the ODK and DFSP URLs.
      urlPassword: 'URL-PASSWORD-do-not-print-9b1d',
    };

    // A signed SPAR v2 mapper (sparctl serve in-process) and a fake ODK Central.
    const backing = LocalMapper.open(join(dir, 'served.db'));
    const spar = createSparServer({ mapper: backing, partners: new Map([['PARTNER_SPARCTL_SEC', [publicKey]]]) });
    await new Promise<void>((resolve) => spar.listen(0, '127.0.0.1', resolve));
    const central = await startFakeCentral({
      email: 'importer@example.org',
      password: secrets.odkPassword,
      projectId: 3,
      formId: 'spar_enrolment',
    });
    central.submit({
      beneficiary: { national_id: '0770000001', full_name: 'Ana' },
      payment: { payment_method: 'bank', bank_code: 'BNK001', branch_code: 'BNK001-0042', account_number: '000123456789' },
    });
    try {
      const port = (spar.address() as AddressInfo).port;
      const baseUrl = `http://sparctl:${secrets.urlPassword}@127.0.0.1:${port}`;
      const remote = cliEnv({
        SPARCTL_BASE_URL: baseUrl,
        SPARCTL_SENDER_APP_MNEMONIC: 'sparctl-sec',
        SPARCTL_SIGNING_KEY_FILE: join(dir, 'partner-key.pem'),
        SPARCTL_TOKEN: secrets.token,
        SPARCTL_OAUTH_CLIENT_SECRET: secrets.clientSecret,
        SPARCTL_ODK_URL: central.url,
        SPARCTL_ODK_PROJECT: '3',
        SPARCTL_ODK_FORM: 'spar_enrolment',
        SPARCTL_ODK_EMAIL: 'importer@example.org',
        SPARCTL_ODK_PASSWORD: secrets.odkPassword,
      });
      const rows = [
        'id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number',
        'SEC1,BANK,Example Bank,EXB,Main,0001,0001',
        'SEC2,BANK,Example Bank,EXB,Main,0001,',
      ];
      writeFileSync(join(dir, 'in.csv'), `${rows.join('\n')}\n`);
      const run = (args: string[]) => runMain(['-v', ...args], { env: remote.env, cwd: dir });
      const mapping = join(ROOT, 'fixtures', 'enrolment.odk-mapping.json');
      const odkDfsp = join(ROOT, 'fixtures', 'odk-dfsp.json');
      const bank = bankFlags('0002');
      // Every command, against the remote mapper (its URL holds the password) unless it says otherwise.
      const commands: string[][] = [
        ['config', 'show', '-o', 'table'],
        ['config', 'show', '-o', 'json'],
        ['config', 'profiles'],
        ['config', 'path'],
        ['config', 'init'],
        ['config', 'show'], // with the config file config init wrote
        ['ping', '-o', 'table'],
        ['ping', '-o', 'json'],
        ['link', '--file', 'in.csv', '--results', 'results.jsonl', '--rejects', 'rejects.csv'],
        ['resolve', '--id', 'SEC1', '-o', 'json'],
        ['resolve', '--id', 'SEC1'],
        ['update', '--id', 'SEC1', ...bank],
        ['update', '--file', 'in.csv', '--results', 'update-results.jsonl', '--rejects', 'update-rejects.csv'],
        ['smoke', '--junit', 'smoke.xml'],
        ['smoke', '-o', 'json'],
        [
          'import-csv',
          join(ROOT, 'fixtures', 'enumeration.csv'),
          '--mapping',
          join(ROOT, 'fixtures', 'enumeration.mapping.json'),
          '--dfsp',
          join(ROOT, 'fixtures', 'dfsp.json'),
          '--results',
          'csv-results.jsonl',
          '--rejects',
          'csv-rejects.csv',
        ],
        ['import-odk', '--mapping', mapping, '--dfsp', odkDfsp, '--results', 'odk-remote-results.csv'],
        ['--create', '--db', join(dir, 'local.db'), 'import-odk', '--mapping', mapping, '--dfsp', odkDfsp, '--results', 'odk-results.csv'],
        ['--no-input', 'import-odk', '--mapping', mapping, '--odk-url', 'http://user:hunter2-in-url@127.0.0.1:9'],
        [
          '--no-input',
          'import-odk',
          '--mapping',
          mapping,
          '--dfsp',
          odkDfsp,
          '--odk-url',
          central.url.replace('http://', `http://importer:${secrets.urlPassword}@`),
          '--results',
          'odk-url-results.csv',
        ],
        ['strategy', 'list'],
        ['strategy', 'list', '-o', 'json'],
        ['strategy', 'validate', '--id', '9', '--construct', 'a:{account_number}', '--deconstruct', '^a:(?P<account_number>.+)$'],
        ['strategy', 'add', '--id', '9', '--construct', 'a:{account_number}', '--deconstruct', '^a:(?P<account_number>.+)$'],
        ['strategy', 'export', '--format', 'helm'],
        ['dfsp', 'list'],
        ['dfsp', 'import', join(ROOT, 'fixtures', 'dfsp.json')],
        ['fa', 'edit', 'SEC1'],
        ['init'],
        ['--create', '--db', join(dir, 'init.db'), 'init'],
        ['unlink', '--id', 'SEC1', '--yes'],
        ['unlink', '--file', 'in.csv', '--yes', '--results', 'unlink-results.jsonl', '--rejects', 'unlink-rejects.csv'],
        // Errors that name the URL: a path with no mapper behind it, two targets, a closed port for DFSP look-ups.
        ['--url', `${baseUrl}/nowhere`, 'resolve', '--id', 'SEC1'],
        ['--url', `${baseUrl}/nowhere`, 'link', '--file', 'in.csv', '-o', 'json', '--rejects', 'nowhere-rejects.csv'],
        ['--db', join(dir, 'other.db'), '--url', baseUrl, 'resolve', '--id', 'SEC1', '-o', 'json'],
      ];
      const results: CliResult[] = [];
      for (const command of commands) results.push(await run(command));
      results.push(
        await runMain(['-v', 'dfsp', 'list'], {
          env: { ...remote.env, SPARCTL_DFSP_URL: `http://dfsp:${secrets.urlPassword}@127.0.0.1:9/api/bene-portal` },
          cwd: dir,
        }),
      );
      const result = (...command: string[]) => results[commands.findIndex((c) => c.join(' ') === command.join(' '))]!;
      expect(result('link', '--file', 'in.csv', '--results', 'results.jsonl', '--rejects', 'rejects.csv').code).toBe(5); // SEC2 rejected: the run really happened
      expect(
        result(
          '--create',
          '--db',
          join(dir, 'local.db'),
          'import-odk',
          '--mapping',
          mapping,
          '--dfsp',
          odkDfsp,
          '--results',
          'odk-results.csv',
        ).code,
      ).toBe(0);
      expect(result('import-odk', '--mapping', mapping, '--dfsp', odkDfsp, '--results', 'odk-remote-results.csv').code).toBe(0);
      expect(result('ping', '-o', 'table').stdout).toMatch(/ok {4}reachable/);
      expect(result('smoke', '-o', 'json').code).toBe(0);
      expect(result('unlink', '--id', 'SEC1', '--yes').code).toBe(0);
      // Where the mapper's URL is shown, it is shown masked.
      const masked = `http://***@127.0.0.1:${port}`;
      expect(result('config', 'show', '-o', 'table').stdout).toContain(`target: remote spar-v2 ${masked} (env SPARCTL_BASE_URL)`);
      expect(result('ping', '-o', 'table').stdout).toContain(`reachable: GET ${masked}/ping`);
      for (const command of [
        ['resolve', '--id', 'SEC1'],
        ['smoke', '--junit', 'smoke.xml'],
        ['strategy', 'list'],
      ])
        expect(result(...command).stderr).toContain(`→ remote spar-v2 ${masked} (env SPARCTL_BASE_URL)`);
      expect(result('--url', `${baseUrl}/nowhere`, 'resolve', '--id', 'SEC1').stderr).toContain(
        `${masked}/nowhere/mapper/resolve answered HTTP 404`,
      );
      expect(results.at(-1)!.stderr).toContain('http://***@127.0.0.1:9/api/bene-portal');

      const outputs = results.flatMap((result, i) => [
        { path: `command ${i} stdout`, text: result.stdout },
        { path: `command ${i} stderr`, text: result.stderr },
      ]);
      const written = [...filesUnder(dir).filter((file) => !/partner-key\.pem$/.test(file.path)), ...filesUnder(remote.home)];
      expect(written.some((file) => file.path.endsWith('results.jsonl'))).toBe(true);
      expect(written.some((file) => file.path.includes('odk-sessions.json'))).toBe(true);
      for (const { path, text } of [...outputs, ...written]) {
        for (const [name, secret] of Object.entries(secrets)) expect(text.includes(secret), `${name} in ${path}`).toBe(false);
        expect(text.includes('hunter2-in-url'), `URL password in ${path}`).toBe(false);
        expect(/:\/\/[^\s/@*]+:[^\s/@*]+@/.test(text), `user:password@ of a URL in ${path}`).toBe(false);
        expect(/Bearer \S/.test(text), `an Authorization value in ${path}`).toBe(false);
        expect(/eyJ[A-Za-z0-9_-]{20,}\.\.[A-Za-z0-9_-]{20,}/.test(text), `a detached JWS (Signature) in ${path}`).toBe(false);
      }
      // What holds beneficiaries' data or secrets is the owner's only.
      for (const file of ['results.jsonl', 'rejects.csv', 'odk-results.csv', 'local.db'])
        expect(statSync(join(dir, file)).mode & 0o777, file).toBe(0o600);
      expect(statSync(join(remote.home, 'cache', 'sparctl', 'odk-sessions.json')).mode & 0o777).toBe(0o600);
      // config show says a secret is set, never what it is.
      expect(result('config', 'show').stdout).toMatch(/token.*\(set, hidden\)/);
    } finally {
      await central.close();
      spar.closeAllConnections();
      await new Promise<void>((resolve) => spar.close(() => resolve()));
      await backing.close();
    }
  }, 90_000);

  it('warns when a key file can be read by other users, and creates its own secret files 0600', async () => {
    const dir = tempDir();
    const key = join(dir, 'key.pem');
    writeFileSync(key, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    chmodSync(key, 0o644);
    const { env, home } = cliEnv({ SPARCTL_SIGNING_KEY_FILE: key });
    const shown = await runMain(['config', 'show'], { env });
    expect(shown.stderr).toContain(`sparctl: warning: signingKeyFile ${key} can be read by other users (mode 0644); run: chmod 600 ${key}`);
    chmodSync(key, 0o600);
    expect((await runMain(['config', 'show'], { env })).stderr).not.toContain('warning');
    const init = await runMain(['config', 'init'], { env });
    expect(init.code).toBe(0);
    expect(statSync(join(home, 'config', 'sparctl', 'config.json')).mode & 0o777).toBe(0o600);
  });
});

describe("a gateway that echoes the request's address in its messages", () => {
  it("a --url's query key is masked in every message shown or kept: per-record messages (stdout, reject, results), smoke's steps and JUnit, ping's checks", async () => {
    const KEY = 'QueryKey0123456789';
    // Answers every record with a message naming the request's path and query, as some gateways'
    // errors do; with 401 and the same message in SPAR's error format on the second port.
    const echo = (status: number) =>
      createHttpServer((request, response) => {
        let body = '';
        request.on('data', (chunk: Buffer) => (body += chunk.toString()));
        request.on('end', () => {
          const said = `as asked at ${request.url}`;
          if (request.url!.startsWith('/ping')) return response.writeHead(200).end(`pong ${said}`);
          if (status !== 200)
            return response
              .writeHead(status, { 'content-type': 'application/json' })
              .end(JSON.stringify({ errors: [{ code: 'G2P-AUT-401', message: said }] }));
          const operation = request.url!.split('?')[0]!.split('/').pop()!;
          const items = JSON.parse(body).request_body.request_payload[`${operation}_request`] as { reference_id: string; id: string }[];
          const list = items.map((item) =>
            operation === 'resolve'
              ? {
                  reference_id: item.reference_id,
                  id: item.id,
                  status: 'succ',
                  status_reason_code: 'succ.fa.not_linked_to_id',
                  status_reason_message: said,
                  fa: null,
                }
              : { reference_id: item.reference_id, status: 'rjct', status_reason_code: 'rjct.fa.invalid', status_reason_message: said },
          );
          response.writeHead(200, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              response_header: { response_status: 'SUCCESS' },
              response_body: { response_payload: { [`${operation}_response`]: list } },
            }),
          );
        });
      });
    const servers = [echo(200), echo(401)];
    const [ok, refusing] = await Promise.all(servers.map((server) => listenOnLoopback(server)));
    try {
      const { env, home } = cliEnv();
      const input = join(home, 'b.csv');
      writeFileSync(
        input,
        'id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number\nE1,BANK,X,EXB,Main,0001,5\nE2,BANK,X,EXB,Main,0001,6\n',
      );
      const url = (port: number) => `http://127.0.0.1:${port}/?subscription-key=${KEY}`;
      const runs = [
        await runMain(['--url', url(ok!), 'link', '--file', input, '--results', join(home, 'results.jsonl'), '-o', 'jsonl'], {
          env,
          cwd: home,
        }),
        await runMain(['--url', url(ok!), 'smoke', '-o', 'json', '--junit', join(home, 'smoke.xml')], { env, cwd: home }),
        await runMain(['--url', url(refusing!), 'smoke', '-o', 'json', '--junit', join(home, 'smoke-401.xml')], { env, cwd: home }),
        await runMain(['--url', url(refusing!), 'ping', '-o', 'jsonl'], { env, cwd: home }),
        await runMain(['--url', url(ok!), 'ping', '-o', 'jsonl'], { env, cwd: home }),
      ];
      const texts = [...runs.flatMap((run) => [run.stdout, run.stderr]), ...filesUnder(home).map((file) => file.text)];
      // The echoes arrived (else this test would prove nothing), and masked.
      expect(texts.join('\n')).toContain('/mapper/link?subscription-key=***');
      expect(texts.join('\n')).toContain('/ping?subscription-key=***');
      expect(readFileSync(join(home, 'smoke-401.xml'), 'utf8')).toContain('subscription-key=***');
      for (const text of texts) expect(text).not.toContain(KEY);
    } finally {
      for (const server of servers) server.close();
    }
  });
});

describe('TLS', () => {
  it('verifies certificates; --ca-file trusts a private CA; --insecure is the only way off, and it warns', async () => {
    const dir = tempDir();
    // A self-signed certificate for 127.0.0.1, made with openssl as an operator would.
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'tls.key'),
        '-out',
        join(dir, 'tls.crt'),
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const backing = LocalMapper.open(join(dir, 'served.db'));
    const handler = createSparServer({ mapper: backing, partners: new Map() }).listeners('request')[0] as Parameters<
      typeof createHttpsServer
    >[1];
    const server = createHttpsServer({ key: readFileSync(join(dir, 'tls.key')), cert: readFileSync(join(dir, 'tls.crt')) }, handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { env } = cliEnv({ SPARCTL_BASE_URL: `https://127.0.0.1:${(server.address() as AddressInfo).port}` });
      const untrusted = await runMain(['resolve', '--id', 'T1'], { env });
      expect(untrusted.code).toBe(3);
      expect(untrusted.stderr).toMatch(/TLS failed \(\w+\).*the server certificate is not trusted/s);

      const trusted = await runMain(['--ca-file', join(dir, 'tls.crt'), 'resolve', '--id', 'T1', '-o', 'json'], { env });
      expect(trusted.code, trusted.stderr).toBe(0);
      expect(JSON.parse(trusted.stdout).results[0].outcome).toBe('not_found');
      expect(trusted.stderr).not.toMatch(/warning/);
      // The same from the environment; a profile or variable cannot turn verification off.
      expect((await runMain(['resolve', '--id', 'T1'], { env: { ...env, SPARCTL_CA_FILE: join(dir, 'tls.crt') } })).code).toBe(0);
      expect(
        (await runMain(['resolve', '--id', 'T1'], { env: { ...env, SPARCTL_INSECURE: 'true', NODE_TLS_REJECT_UNAUTHORIZED: '1' } })).code,
      ).toBe(3);

      const insecure = await runMain(['--insecure', 'resolve', '--id', 'T1', '-o', 'json'], { env });
      expect(insecure.code, insecure.stderr).toBe(0);
      expect(insecure.stderr).toMatch(/^sparctl: warning: --insecure: TLS certificates are not checked/m);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await backing.close();
    }
  }, 30_000);
});

describe('control characters in what the user typed', () => {
  it('a terminal escape in --profile or --db is shown as an escape on stderr, never sent to the terminal', async () => {
    const { env, home } = cliEnv();
    const escape = '\u001b[2J\u001b[31m';
    const runs = [
      await runMain(['--profile', `x${escape}EVIL`, 'resolve', 'X'], { env, cwd: home }),
      await runMain(['--db', join(home, `x${escape}.db`), 'resolve', 'X'], { env, cwd: home }),
    ];
    for (const run of runs) {
      expect(run.code).not.toBe(0);
      expect(run.stderr).not.toContain('\u001b');
      expect(run.stderr).toContain('\\u001b[2J');
    }
  });
});
