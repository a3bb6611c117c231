import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliEnv, withoutTarget, type CliEnv } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { serve } from '../helpers/serve.js';
import { bankFlags } from '../helpers/records.js';
import { tempDir } from '../helpers/tmp.js';

const BANK_FLAGS = bankFlags('ACC1000001');

function keyPair(dir: string): { keyFile: string; publicFile: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyFile = join(dir, 'partner-key.pem');
  const publicFile = join(dir, 'partner-public.pem');
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 }); // PKCS#1 is accepted too
  writeFileSync(publicFile, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o600 });
  return { keyFile, publicFile };
}

function writeProfile(env: CliEnv, profile: Record<string, unknown>): void {
  writeFileSync(join(env.env['XDG_CONFIG_HOME']!, 'sparctl', 'config.json'), JSON.stringify({ profiles: { remote: profile } }));
}

/** Results without what legitimately differs between targets. */
function comparable(stdout: string): unknown[] {
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('remote mode against `sparctl serve` (built binary, signatures on)', () => {
  it('link → resolve → update → unlink give the same results as local mode', async () => {
    const dir = tempDir();
    const { keyFile, publicFile } = keyPair(dir);
    const server = cliEnv();
    const served = await serve(server.env, join(dir, 'served.db'), `field-team=${publicFile}`);
    const client = cliEnv();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(client.env['XDG_CONFIG_HOME']!, 'sparctl'), { recursive: true });
    writeProfile(client, {
      mode: 'remote',
      protocol: 'spar-v2',
      baseUrl: served.url,
      senderAppMnemonic: 'field-team',
      signingKeyFile: keyFile,
    });
    const local = cliEnv();

    const steps: string[][] = [
      ['link', '--file', 'fixtures/beneficiaries.csv'],
      ['link', '--id', 'BENE_0001', ...BANK_FLAGS],
      ['resolve', '--file', 'fixtures/beneficiaries.csv'],
      ['update', '--id', 'BENE_0001', ...BANK_FLAGS.slice(0, -1), 'ACC2000002'],
      ['update', '--id', 'BENE_9999', ...BANK_FLAGS],
      ['resolve', 'BENE_0001', 'BENE_9999', '--scope', 'details'],
      ['unlink', '--id', 'BENE_0002', '--yes'],
      ['unlink', '--id', 'BENE_0002', '--yes'],
      ['resolve', 'BENE_0002', '--scope', 'yes_no'],
    ];
    for (const step of steps) {
      const bulk = step.includes('--file') && step[0] !== 'resolve';
      const args = bulk ? [...step, '-o', 'jsonl', '--rejects', join(dir, 'r.csv')] : step;
      const remote = await runMain(['--profile', 'remote', ...args], { env: client.env });
      const here = await runMain(args, { env: local.env });
      expect({ step, code: remote.code }).toEqual({ step, code: here.code });
      expect(comparable(remote.stdout)).toEqual(comparable(here.stdout));
      if (!bulk) {
        expect(remote.stderr).toMatch(/^→ remote spar-v2 http:\/\/127\.0\.0\.1:\d+ \(profile remote\)\n/);
        expect(withoutTarget(remote.stderr).replace(/\(spar-v2 [^)]*\)/, '(TARGET)')).toBe(
          withoutTarget(here.stderr).replace(/\(local [^)]*\)/, '(TARGET)'),
        );
      }
    }
    expect(served.stderr()).toMatch(/POST \/mapper\/link 200 10 item\(s\) PARTNER_FIELD_TEAM/);

    const ping = await runMain(['--profile', 'remote', 'ping', '-o', 'table'], { env: client.env });
    expect(ping.code).toBe(0);
    expect(ping.stdout).toMatch(/^ok {4}reachable: GET http:\/\/127\.0\.0\.1:\d+\/ping → HTTP 200 "pong"/m);
    // A check's text wraps at 80 columns under itself.
    expect(ping.stdout.replace(/\n {6}/g, ' ')).toMatch(
      /^ok {4}resolve: spar-v2 mapper answered, signed as partner "field-team": succ\.fa\.not_linked_to_id/m,
    );

    served.child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => served.child.on('exit', resolve));
    expect(code).toBe(0);
    expect(served.stderr()).toMatch(/sparctl serve: SIGTERM, finishing in-flight requests\nsparctl serve: stopped\n$/);
  }, 90_000); // 19 runs of the binary, each signing: 15 s alone, more beside the rest of the suite

  it('a wrong key, a wrong partner, a wrong URL and a stopped server each give one clear line and their exit code', async () => {
    const dir = tempDir();
    const good = keyPair(dir);
    const other = keyPair(tempDir());
    const served = await serve(cliEnv().env, join(dir, 'served.db'), `sparctl=${good.publicFile}`);
    const client = cliEnv();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(client.env['XDG_CONFIG_HOME']!, 'sparctl'), { recursive: true });
    const base = { mode: 'remote', protocol: 'spar-v2', baseUrl: served.url, senderAppMnemonic: 'sparctl', signingKeyFile: good.keyFile };
    const cases: [string, Record<string, unknown>, number, RegExp][] = [
      [
        'wrong key',
        { ...base, signingKeyFile: other.keyFile },
        3,
        /^sparctl: error \[[a-z0-9_.]+\]: link at http:\/\/127\.0\.0\.1:\d+\/mapper\/link rejected the request signature \(rjct\.request\.validation: StatusReasonCodeEnum\.rjct_jwt_invalid\); signed with the key \S+partner-key\.pem as partner "sparctl" \(check that the mapper knows/,
      ],
      [
        'wrong partner mnemonic',
        { ...base, senderAppMnemonic: 'someone-else' },
        3,
        /rejected the request signature .*partner "someone-else"/,
      ],
      // An unsigned profile is told that it signs nothing, not to check a signingKeyFile it does not have.
      [
        'no signing key',
        { ...base, signingKeyFile: undefined },
        3,
        /refused the request as unauthenticated \(rjct\.request\.validation: [^)]*\); sparctl signs nothing \(no signing key is set\) \(the mapper checks signatures: set signingKeyFile/,
      ],
      [
        'wrong URL',
        { ...base, baseUrl: `${served.url}/api/mapper` },
        3,
        /^sparctl: error \[[a-z0-9_.]+\]: link at http:\/\/127\.0\.0\.1:\d+\/api\/mapper\/mapper\/link answered HTTP 404 \(G2P-REQ-404: Not Found\): there is no mapper operation at this URL \(check baseUrl/,
      ],
      [
        'unreadable key file',
        { ...base, signingKeyFile: join(dir, 'missing.pem') },
        3,
        /^sparctl: error \[[a-z0-9_.]+\]: cannot read the signing key .*missing\.pem: ENOENT/,
      ],
      [
        'key file that is not a key',
        { ...base, signingKeyFile: good.publicFile },
        3,
        /^sparctl: error \[[a-z0-9_.]+\]: .*partner-public\.pem is not a PEM private key/,
      ],
    ];
    for (const [what, profile, code, message] of cases) {
      writeProfile(client, profile);
      const run = await runMain(['--profile', 'remote', 'link', '--id', 'X1', ...BANK_FLAGS], { env: client.env });
      expect({ what, code: run.code }).toEqual({ what, code });
      expect(run.stdout).toBe('');
      expect(withoutTarget(run.stderr).trimEnd().split('\n'), what).toHaveLength(1);
      expect(withoutTarget(run.stderr), what).toMatch(message);
      expect(run.stderr).not.toMatch(/\n\s+at /); // never a stack trace
    }
    // serve's access log: a request whose signature failed says so, not only the partner it claims.
    expect(served.stderr()).toMatch(/POST \/mapper\/link 200 1 item\(s\) PARTNER_SPARCTL \(signature refused\)/);
    expect(served.stderr()).not.toMatch(/POST \/mapper\/link 200 1 item\(s\) PARTNER_SPARCTL \d+ ms/);

    served.child.kill('SIGTERM');
    await new Promise((resolve) => served.child.on('exit', resolve));
    writeProfile(client, base);
    const stopped = await runMain(['--profile', 'remote', 'resolve', 'X1'], { env: client.env });
    expect(stopped.code).toBe(4);
    expect(withoutTarget(stopped.stderr)).toMatch(
      /^sparctl: error \[[a-z0-9_.]+\]: POST http:\/\/127\.0\.0\.1:\d+\/mapper\/resolve: connection refused \(is the mapper running, and are the host and port in baseUrl right\?\)\n$/,
    );
    const ping = await runMain(['--profile', 'remote', 'ping', '-o', 'table'], { env: client.env });
    expect(ping.code).toBe(4);
    expect(ping.stdout).toMatch(/^FAIL {2}reachable: GET http:\/\/127\.0\.0\.1:\d+\/ping: connection refused/);
  });
});
