/**
 * import-odk when the state cannot be written after a window was applied (found by a tester on a
 * full tmpfs): the journal of the window's writes must outlive that failure. It was removed
 * before the state was written, so the next run found every record "unchanged", recorded no
 * write, and a submission rejected later kept its beneficiary linked — and paid — silently.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bankSubmission, fakeCentrals, importOdk, odkEnv } from '../helpers/odk-fixture.js';
import { serveBehindProxy } from '../helpers/proxied-serve.js';
import { cliEnv } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';

const PASSWORD = 'odk-state-write-test';
const { central, cleanups } = fakeCentrals(PASSWORD);

describe('import-odk: the state cannot be written after a window was applied', () => {
  it('the journal is kept (exit 4); the next run resumes the window and records its writes; a rejection then unlinks', async () => {
    const fake = await central();
    const { backing, proxy } = await serveBehindProxy(cleanups);
    const env = odkEnv(fake, PASSWORD, { SPARCTL_ODK_PASSWORD: PASSWORD, SPARCTL_BASE_URL: proxy.url });
    const ids = Array.from({ length: 30 }, (_, i) => `00800000${String(i).padStart(2, '0')}`);
    const submitted = ids.map((id, i) => fake.submit(bankSubmission(id, `5${String(i).padStart(5, '0')}`)));
    const odk = join(env.env['XDG_STATE_HOME']!, 'sparctl', 'odk');
    const journals = join(env.env['XDG_STATE_HOME']!, 'sparctl', 'journals');

    // While the window is applied, the state's temporary file becomes a folder: the state write
    // fails (disk.write_failed) for root as for anyone. Its name carries the run's pid, which the
    // state's lock says (the run may be this process or a binary).
    let planted: string | undefined;
    proxy.chaos(() => {
      if (planted !== undefined || !existsSync(odk)) return undefined;
      const [key] = readdirSync(odk);
      const dir = join(odk, key!);
      if (!existsSync(join(dir, 'spar_enrolment.jsonl'))) return undefined;
      const { pid } = JSON.parse(readFileSync(join(dir, 'lock.owner'), 'utf8')) as { pid: number };
      planted = join(dir, `state.json.${pid}.tmp`);
      mkdirSync(planted);
      return undefined;
    });
    const failed = await importOdk(env, ['--batch-size', '10']);
    expect(failed.code, failed.stderr).toBe(4);
    expect(failed.stderr).toMatch(/error \[disk\.write_failed\]: .*state\.json: cannot write the import state/);
    expect(ids.every((id) => backing.storedFa(id) !== undefined)).toBe(true);
    const dir = join(planted!, '..');
    expect(existsSync(join(dir, 'state.json'))).toBe(false);
    expect(readdirSync(journals).filter((name) => name.endsWith('.db'))).toHaveLength(1);

    rmSync(planted!, { recursive: true });
    const resumed = await importOdk(env, ['--batch-size', '10']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('finishing the window an earlier run left unfinished');
    expect(resumed.stderr).toMatch(/settled by an earlier run/);
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as {
      claims: Record<string, { wrote?: { beneficiary: string; replaced?: unknown } }>;
    };
    expect(submitted.map((s) => state.claims[s.__id]?.wrote)).toEqual(
      ids.map((id) => ({ beneficiary: id, fa: expect.any(String), replaced: 'none' })),
    );
    expect(readdirSync(dir).filter((name) => name.includes('.tmp') || name.endsWith('.jsonl') || name.endsWith('.replaced'))).toEqual([]);
    expect(readdirSync(journals).filter((name) => name.endsWith('.db'))).toEqual([]);

    // A reviewer rejects one: its link, the importer's, is undone.
    fake.review(submitted[7]!.__id, 'rejected');
    const undo = await importOdk(env, ['--on-reject', 'unlink', '--yes']);
    expect(undo.code, undo.stderr).toBe(0);
    expect(backing.storedFa(ids[7]!)).toBeUndefined();
    expect(ids.filter((id) => backing.storedFa(id) === undefined)).toEqual([ids[7]]);
  });
});

describe('import-odk has no --restart', () => {
  it('a window started is always finished: --restart is not an option of import-odk (it is of import-csv)', async () => {
    const { env } = cliEnv();
    const odk = await runMain(['import-odk', '--mapping', 'fixtures/enrolment.odk-mapping.json', '--restart'], { env });
    expect(odk.code).toBe(2);
    expect(odk.stderr).toMatch(/usage\.unknown_option.*--restart/);
    const help = await runMain(['import-odk', '--help'], { env });
    expect(help.stdout).not.toContain('--restart');
    expect((await runMain(['import-csv', '--help'], { env })).stdout).toContain('--restart');
  });
});

describe('import-odk: the ODK session cannot be kept', () => {
  it('says so (disk.write_failed) and leaves no copy of the session tokens behind', async () => {
    const fake = await central();
    const { proxy } = await serveBehindProxy(cleanups);
    const env = odkEnv(fake, PASSWORD, { SPARCTL_ODK_PASSWORD: PASSWORD, SPARCTL_BASE_URL: proxy.url });
    fake.submit(bankSubmission('0080000100', '500100'));
    // The cache's path is a folder: the copy is written, and renaming it into place fails.
    const cache = join(env.env['XDG_CACHE_HOME']!, 'sparctl');
    mkdirSync(join(cache, 'odk-sessions.json'), { recursive: true });
    const run = await importOdk(env);
    expect(run.code, run.stderr).toBe(4);
    expect(run.stderr).toMatch(/odk-sessions\.json: cannot keep the ODK session/);
    expect(readdirSync(cache)).toEqual(['odk-sessions.json']);
  });
});
