import { createServer } from 'node:net';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OUTPUT_FORMATS } from '../../src/config/constants.js';
import { BIN, ROOT, cliEnv, type CliResult, SPAWN_LIMIT } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { serveWith } from '../helpers/serve.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * "Output formats honoured everywhere": every command path either answers -o in that format —
 * on success and on error — or refuses -o with exit 2 before doing anything.
 */

const F = (name: string) => join(ROOT, 'fixtures', name);
const STRATEGY = ['--id', '99', '--type', 'FA', '--construct', 'x:{account_number}', '--deconstruct', '^x:(?P<account_number>.*)$'];

/** Every command path, with arguments that make it succeed on a mapper holding fixtures/beneficiaries.csv, and one that fails. */
const PATHS: readonly (readonly string[])[] = [
  [
    'link',
    '--id',
    'NEW1',
    '--fa',
    '{"fa_type":"BANK","strategy_id":2,"bank_name":"B","bank_code":"B","branch_name":"M","branch_code":"1","account_number":"1"}',
  ],
  [
    'link',
    '--id',
    'NEW2',
    '--fa',
    '{"fa_type":"BANK","strategy_id":2,"bank_name":"B","bank_code":"B","branch_name":"M","branch_code":"1","account_number":"2"}',
    '--dry-run',
  ],
  [
    'update',
    '--id',
    'BENE_0001',
    '--fa',
    '{"fa_type":"BANK","strategy_id":2,"bank_name":"B","bank_code":"B","branch_name":"M","branch_code":"1","account_number":"3"}',
  ],
  ['resolve', 'BENE_0001', 'NOPE'],
  ['unlink', '--id', 'BENE_0002', '--yes'],
  ['link', '--file', F('beneficiaries.csv')],
  ['resolve', '--file', F('beneficiaries.csv')],
  ['import-csv', F('enumeration.csv'), '--mapping', F('enumeration.mapping.json'), '--dfsp', F('dfsp.json'), '--dry-run'],
  ['import-odk', '--mapping', F('enrolment.odk-mapping.json')],
  ['strategy', 'list'],
  ['strategy', 'validate', ...STRATEGY],
  ['strategy', 'add', ...STRATEGY, '--dry-run'],
  ['strategy', 'export', '--format', 'json'],
  ['dfsp', 'list'],
  ['dfsp', 'import', F('dfsp.json'), '--dry-run'],
  ['dfsp', 'remove', 'BANK', 'LBP', '--dry-run'],
  ['fa', 'edit', 'BENE_0001'],
  ['ping'],
  ['ping', '--url', 'http://127.0.0.1:9'],
  ['smoke'],
  ['init'],
  ['config', 'show'],
  ['config', 'profiles'],
  ['config', 'path'],
  ['config', 'init'],
  ['completion', 'bash'],
  ['serve', '--port', '0'],
  ['--db', '/nonexistent/dir/x.db', 'resolve', 'X'],
  ['lnk'],
  ['link', '--acount-number', '1'],
];

function parsed(format: 'json' | 'jsonl', stdout: string): unknown[] {
  if (format === 'json') return [JSON.parse(stdout)];
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as unknown);
}

describe('-o on every command path', () => {
  for (const format of ['json', 'jsonl'] as const) {
    it(`-o ${format}: valid ${format} on success and on error (the error as {"error": …}), or -o refused with exit 2`, async () => {
      const seen: string[] = [];
      for (const path of PATHS) {
        const { env } = cliEnv();
        // Not the repository: the default reject files and previews go to the current folder.
        const cwd = tempDir();
        expect((await runMain(['link', '--file', F('beneficiaries.csv'), '-q'], { env, cwd })).code).toBe(0);
        const result = await runMain([...path, '-o', format], { env, cwd });
        const what = `${path.join(' ')} -o ${format} → exit ${result.code}\nstdout: ${result.stdout.slice(0, 500)}\nstderr: ${result.stderr.slice(0, 500)}`;
        expect(result.code, what).not.toBe(1);
        if (result.stderr.includes('[usage.output_format]')) {
          expect(result.code, what).toBe(2);
          seen.push(`${path[0]} refuses`);
        }
        if (format === 'json' || result.stdout !== '') {
          const documents = parsed(format, result.stdout);
          const last = documents.at(-1) as { error?: { code: string; exitCode: number } } | undefined;
          if (result.code === 0 || result.code === 5) expect(last?.error, what).toBeUndefined();
          else {
            // The error on stdout is the one on stderr.
            expect(last?.error?.exitCode, what).toBe(result.code);
            expect(result.stderr, what).toContain(`sparctl: error [${last!.error!.code}]: `);
          }
        }
      }
      // The refusals are the commands without results of their own, not an accident of the corpus.
      expect(seen.sort()).toEqual(['completion refuses', 'serve refuses', 'strategy refuses']);
    }, 60_000);
  }

  it('a summary command refuses -o csv before it does anything; list commands write a header and rows', async () => {
    const { env, dataDb } = cliEnv();
    const init = await runMain(['init', '-o', 'csv'], { env });
    expect(init.code).toBe(2);
    expect(init.stderr).toMatch(
      /^sparctl: error \[usage\.output_format\]: init prints one summary, which has no CSV form; nothing was done/m,
    );
    expect(existsSync(dataDb)).toBe(false);
    const configInit = await runMain(['config', 'init', '-o', 'csv'], { env });
    expect(configInit.code).toBe(2);
    expect(existsSync(join(env['XDG_CONFIG_HOME']!, 'sparctl', 'config.json'))).toBe(false);

    expect((await runMain(['config', 'init', '-o', 'jsonl'], { env })).stdout).toMatch(
      /^\{"command":"config init","configFile":".*config\.json","profiles":\["local","staging"\],"defaultProfile":"local"\}\n$/,
    );
    expect((await runMain(['config', 'profiles', '-o', 'csv'], { env })).stdout).toBe(
      'name,mode,default\r\nlocal,local,true\r\nstaging,remote,false\r\n',
    );
    const paths = await runMain(['config', 'path', '-o', 'jsonl'], { env });
    expect(
      paths.stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { name: string }).name),
    ).toEqual(['config', 'data', 'state', 'cache']);
    const show = await runMain(['config', 'show', '-o', 'csv'], { env });
    expect(show.stdout).toMatch(/^setting,value,from\r\n/);
    expect(show.stdout).toMatch(/\r\nprofile,local,defaultProfile \(.*config\.json\)\r\nmode,local,profile local\r\n/);
  });

  it('piped, with no -o, every result comes as JSONL; -o table gives the table', async () => {
    const { env } = cliEnv();
    for (const args of [['init'], ['ping'], ['smoke'], ['config', 'path'], ['strategy', 'list'], ['resolve', 'X']]) {
      const result = await runMain(args, { env });
      expect(result.code, args.join(' ')).toBe(0);
      expect(() => parsed('jsonl', result.stdout), `${args.join(' ')}: ${result.stdout}`).not.toThrow();
    }
    const table = await runMain(['smoke', '-o', 'table'], { env });
    expect(table.stdout).toMatch(/^# +step +result +ms +detail$/m);
  });

  it('a --file run that stops early ends its -o jsonl lines with the error; -o json is the summary document saying why', async () => {
    const { env } = cliEnv();
    const url = `http://127.0.0.1:${await freePort()}`;
    const args = ['--url', url, 'link', '--file', F('beneficiaries.csv'), '--retries', '0'];
    const lines = await runMain([...args, '-o', 'jsonl'], { env });
    expect(lines.code).toBe(4);
    const last = parsed('jsonl', lines.stdout).at(-1) as { error?: { code: string; exitCode: number } };
    expect(last.error).toMatchObject({ code: 'remote.refused', exitCode: 4 });
    expect(lines.stderr).toMatch(/^sparctl: error \[remote\.refused\]: /m);
    const document = await runMain([...args, '-o', 'json'], { env });
    expect(document.code).toBe(4);
    expect(JSON.parse(document.stdout)).toMatchObject({ command: 'link --file', summary: { stopped: { code: 'remote.refused' } } });
  });

  it('-q and -v together are refused', async () => {
    const { env } = cliEnv();
    const both = await runMain(['-q', '-v', 'resolve', 'X'], { env });
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(
      /^sparctl: error \[usage\.conflicting_option\]: option '-q, --quiet' cannot be used with option '-v, --verbose'/,
    );
  });

  it('every format is named in the help', async () => {
    const help = await runMain(['--help'], { env: cliEnv().env });
    for (const format of OUTPUT_FORMATS) expect(help.stdout).toContain(`"${format}"`);
  });
});

describe('ping', () => {
  it('-o json: one document with every check; -o jsonl: a line per check, then the error', async () => {
    const { env } = cliEnv();
    const ok = await runMain(['ping', '-o', 'json'], { env });
    expect(ok.code).toBe(0);
    const document = JSON.parse(ok.stdout) as {
      command: string;
      ok: boolean;
      target: { mode: string; source: string };
      checks: { check: string; ok: boolean }[];
    };
    expect(document).toMatchObject({ command: 'ping', ok: true, target: { mode: 'local', source: 'default' } });
    expect(document.checks.map((c) => [c.check, c.ok])).toEqual([['resolve', true]]);

    const down = await runMain(['ping', '--url', 'http://admin:s3cret@127.0.0.1:9', '-o', 'jsonl'], { env });
    expect(down.code).toBe(4);
    const lines = parsed('jsonl', down.stdout) as { check?: string; ok?: boolean; error?: { code: string } }[];
    expect(lines.map((line) => line.check ?? line.error?.code)).toEqual(['reachable', 'remote.refused']);
    expect(`${down.stdout}${down.stderr}`).not.toContain('s3cret');
    expect(down.stdout).toContain('http://***@127.0.0.1:9/ping');
  });

  it('--wait keeps trying while the mapper starts, then passes', async () => {
    const port = await freePort();
    const { env } = cliEnv();
    let stderr = '';
    let said: () => void = () => undefined;
    const waiting = new Promise<void>((resolve) => (said = resolve));
    const ping = new Promise<CliResult>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'ping', '--url', `http://admin:s3cret@127.0.0.1:${port}`, '--wait', '30', '-o', 'json'], {
        ...SPAWN_LIMIT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        if (stderr.includes('waiting up to')) said();
      });
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    // The mapper comes up once ping has found it down and said it waits (however slow the machine).
    await waiting;
    await serveWith(env, join(tempDir(), 'served.db'), ['--port', String(port)]);
    const result = await ping;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /^sparctl: waiting up to 30 s for the mapper \(GET http:\/\/\*\*\*@127\.0\.0\.1:\d+\/ping: connection refused\)$/m,
    );
    // The URL's password is in no line and no field of the document.
    expect(`${result.stdout}${result.stderr}`).not.toContain('s3cret');
    expect(JSON.parse(result.stdout)).toMatchObject({
      target: { mode: 'remote', location: `http://***@127.0.0.1:${port}`, source: 'flag --url' },
    });
    expect((JSON.parse(result.stdout) as { checks: { check: string; ok: boolean }[] }).checks.map((c) => [c.check, c.ok])).toEqual([
      ['reachable', true],
      ['resolve', true],
    ]);
  }, 40_000);

  it('without --wait, or after it, an unavailable mapper is exit 4 at once', async () => {
    const { env } = cliEnv();
    const started = Date.now();
    const down = await runMain(['ping', '--url', `http://127.0.0.1:${await freePort()}`, '--wait', '1', '-o', 'table'], { env });
    expect(down.code).toBe(4);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(down.stdout).toMatch(/^FAIL {2}reachable: GET http:\/\/127\.0\.0\.1:\d+\/ping: connection refused/);
    // A check's failure is shown once, not once per attempt.
    expect(down.stdout.match(/FAIL/g)).toHaveLength(1);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
