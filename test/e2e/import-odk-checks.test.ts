/**
 * import-odk's checks before anything is read, as a hostile tester found them wanting: a mapping
 * path inside a repeat group was taken and read empty in every submission (name NULL on every
 * link, exit 0); a group (`beneficiary`) as the ID failed each row instead of the run (exit 5);
 * any `__system.<name>` passed unchecked. And a stop signal while submissions were read ended the
 * run without a word (exit 130 and nothing said); a URL with /v1 twice stopped with a 404 or
 * odk.state_elsewhere that did not say why.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { bankSubmission, fakeCentrals, ODK_DFSP, ODK_MAPPING, odkEnv } from '../helpers/odk-fixture.js';
import { BIN, SPAWN_LIMIT } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';

const PASSWORD = 'odk-checks-test';
const { central, cleanups } = fakeCentrals(PASSWORD);

/** The fixture mapping with some of its fields read from other paths. */
function mappingWith(dir: string, name: string, change: (mapping: Record<string, unknown>) => void): string {
  const mapping = JSON.parse(readFileSync(ODK_MAPPING, 'utf8')) as Record<string, unknown>;
  change(mapping);
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(mapping));
  return path;
}

describe('import-odk: mapping paths are checked against the form before anything is read', () => {
  const cases: [string, (mapping: Record<string, unknown>) => void, RegExp][] = [
    [
      'a field inside a repeat group',
      (m) => (m['name'] = { path: 'household_member.member_name' }),
      /name reads "household_member\.member_name", inside the repeat group "household_member": Central sends a repeat's rows apart from the submission/,
    ],
    ['a repeat group', (m) => (m['name'] = { path: 'household_member' }), /name reads "household_member", a repeat group, not a field/],
    [
      'a group',
      (m) => (m['id'] = { path: 'beneficiary' }),
      /id reads "beneficiary", a group, not a field \(fields in it: beneficiary\.national_id, beneficiary\.full_name, /,
    ],
    [
      'a __system field Central does not have',
      (m) => (m['name'] = { path: '__system.submiterName' }),
      /name reads "__system\.submiterName", which Central's __system does not have \(it has: __system\.submissionDate, .*__system\.submitterName/,
    ],
  ];
  for (const [what, change, said] of cases) {
    it(`${what}: one line naming the path and why, exit 2, no submission read, nothing written`, async () => {
      const fake = await central();
      fake.submit(bankSubmission('0120000001', '000120001'));
      const env = odkEnv(fake, PASSWORD);
      expect((await runMain(['init', '-q'], { env: env.env, cwd: env.home })).code).toBe(0);
      const mapping = mappingWith(env.home, 'mapping', change);
      for (const dry of [['--dry-run'], []]) {
        const run = await runMain(['import-odk', '--mapping', mapping, '--dfsp', ODK_DFSP, ...dry], { env: env.env, cwd: env.home });
        expect(run.code, run.stderr).toBe(2);
        expect(run.stderr).toMatch(/error \[odk\.mapping_mismatch\]/);
        expect(run.stderr).toMatch(said);
      }
      expect(fake.requests.filter((request) => request.path.includes('.svc'))).toEqual([]);
      const mapper = LocalMapper.open(env.dataDb, undefined, { readOnly: true });
      try {
        expect(mapper.countMappings()).toBe(0);
      } finally {
        await mapper.close();
      }
    });
  }

  it('__system fields Central has are read as they are', async () => {
    const fake = await central();
    fake.submit(bankSubmission('0120000002', '000120002'));
    const env = odkEnv(fake, PASSWORD);
    const mapping = mappingWith(env.home, 'mapping', (m) => (m['name'] = { path: '__system.submitterName' }));
    const run = await runMain(['import-odk', '--mapping', mapping, '--dfsp', ODK_DFSP, '--create'], { env: env.env, cwd: env.home });
    expect(run.code, run.stderr).toBe(0);
    const mapper = LocalMapper.open(env.dataDb, undefined, { readOnly: true });
    try {
      expect(mapper.countMappings()).toBe(1);
    } finally {
      await mapper.close();
    }
  });
});

describe('import-odk stopped while it reads submissions', () => {
  for (const [signal, code, said] of [
    ['SIGINT', 130, 'interrupted'],
    ['SIGTERM', 143, 'terminated (SIGTERM)'],
  ] as const) {
    it(`${signal}: says so as a stop while applying does, exit ${code}, the lock let go`, async () => {
      const fake = await central();
      fake.submit(bankSubmission('0120000003', '000120003'));
      // The submissions feed answers its headers, then a byte every 100 ms: the run is reading it.
      const proxy = await startFaultProxy(fake.url);
      cleanups.push(() => proxy.close());
      proxy.chaos((path) => (path.includes('.svc/Submissions') ? { trickle: true } : undefined));
      const env = odkEnv(fake, PASSWORD);
      const child = spawn(
        process.execPath,
        [BIN, 'import-odk', '--mapping', ODK_MAPPING, '--dfsp', ODK_DFSP, '--create', '--odk-url', proxy.url],
        { ...SPAWN_LIMIT, env: env.env, cwd: env.home, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      for (let waited = 0; !proxy.log.some((entry) => entry.path.includes('.svc/Submissions')); waited += 20) {
        if (waited > 15_000) throw new Error(`the feed was never asked for: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      child.kill(signal);
      expect(await exited, stderr).toBe(code);
      expect(stderr).toContain(`sparctl: ${said}; nothing of this window was sent`);
      // The lock's note of who holds it goes with it; no window was saved.
      const odk = join(env.env['XDG_STATE_HOME']!, 'sparctl', 'odk');
      const [key] = readdirSync(odk);
      expect(readdirSync(join(odk, key!)).sort()).toEqual(['lock', 'origin.json']);
    });
  }
});

describe('import-odk given a URL with /v1 twice', () => {
  it('refuses it before anything is read (odk.bad_url), naming the server address to give: it stopped with odk.state_elsewhere or a 404', async () => {
    const fake = await central();
    fake.submit(bankSubmission('0120000004', '000120004'));
    const env = odkEnv(fake, PASSWORD);
    const first = await runMain(['import-odk', '--mapping', ODK_MAPPING, '--dfsp', ODK_DFSP, '--create'], { env: env.env, cwd: env.home });
    expect(first.code, first.stderr).toBe(0);
    const asked = fake.requests.length;
    const twice = { ...env.env, SPARCTL_ODK_URL: `${fake.url}/v1/v1/` };
    const fromEnv = await runMain(['import-odk', '--mapping', ODK_MAPPING, '--dfsp', ODK_DFSP], { env: twice, cwd: env.home });
    expect(fromEnv.code, fromEnv.stderr).toBe(3);
    expect(fromEnv.stderr).toContain(
      `error [odk.bad_url]: odkUrl (SPARCTL_ODK_URL or the profile) names Central's API path /v1 twice (…/v1/v1); nothing was read or written (give the server's address: ${fake.url} (with or without one /v1))`,
    );
    const fromFlag = await runMain(['import-odk', '--mapping', ODK_MAPPING, '--dfsp', ODK_DFSP, '--odk-url', `${fake.url}/v1/v1`], {
      env: env.env,
      cwd: env.home,
    });
    expect(fromFlag.code, fromFlag.stderr).toBe(3);
    expect(fromFlag.stderr).toContain("error [odk.bad_url]: --odk-url names Central's API path /v1 twice");
    expect(fake.requests.length).toBe(asked);
    // One /v1 is the same server, as before.
    const once = await runMain(['import-odk', '--mapping', ODK_MAPPING, '--dfsp', ODK_DFSP, '--odk-url', `${fake.url}/v1`], {
      env: env.env,
      cwd: env.home,
    });
    expect(once.code, once.stderr).toBe(0);
    expect(once.stderr).toMatch(/0 to apply/);
  });
});
