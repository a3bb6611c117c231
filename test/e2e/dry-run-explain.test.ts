import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliEnv, ROOT } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * What a dry run explains, and the early stop, on files shaped like an ODK Central CSV export
 * opened and saved in a European-locale Excel (`;`, a UTF-8 BOM, CRLF), made here: the reasons
 * counted, the first rejects listed, previews written in the input's own format and nothing
 * else; a run whose first records are all rejected for one input problem stops with exit 2 and
 * leaves nothing behind, so the same command, the cause fixed, starts afresh.
 */

const HEADER = [
  'SubmissionDate',
  'start',
  'end',
  'beneficiary-national_id',
  'beneficiary-full_name',
  'payment-payment_method',
  'payment-bank_code',
  'payment-branch_code',
  'payment-account_number',
  'meta-instanceID',
  'KEY',
  'ReviewState',
];

const MAPPING = {
  id: { column: 'beneficiary-national_id', strategy: 1 },
  name: 'beneficiary-full_name',
  fa: {
    type: { column: 'payment-payment_method', values: { bank: 'BANK' } },
    strategy: { BANK: 2 },
    bank_code: 'payment-bank_code',
    branch_code: 'payment-branch_code',
    account_number: 'payment-account_number',
  },
};

/** One export row; `over` replaces cells by column. */
function row(i: number, over: Record<string, string> = {}): string {
  const uuid = `uuid:0000-${String(i).padStart(6, '0')}`;
  const cells: Record<string, string> = {
    SubmissionDate: '2026-12-01T08:00:00.000Z',
    start: '2026-12-01T07:55:00.000+08:00',
    end: '2026-12-01T07:59:00.000+08:00',
    'beneficiary-national_id': String(412300000000 + i),
    'beneficiary-full_name': `Pérez ${i}`,
    'payment-payment_method': 'bank',
    'payment-bank_code': 'LBP',
    'payment-branch_code': '0012',
    'payment-account_number': String(1000000000 + i),
    'meta-instanceID': uuid,
    KEY: uuid,
    ReviewState: '',
    ...over,
  };
  return HEADER.map((column) => cells[column]).join(';');
}

/** The export as Excel writes it: BOM, `;`, CRLF. */
const excel = (rows: readonly string[]) => `\uFEFF${[HEADER.join(';'), ...rows].join('\r\n')}\r\n`;
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

function setup() {
  const { env, home } = cliEnv();
  const dir = tempDir('sparctl-dry-');
  const db = join(dir, 'mapper.db');
  writeFileSync(join(dir, 'm.json'), JSON.stringify(MAPPING));
  const sparctl = (args: string[]) => runMain(['--db', db, ...args], { env, cwd: dir });
  const importCsv = (file: string, ...more: string[]) => sparctl(['import-csv', file, '--mapping', 'm.json', '--delimiter', ';', ...more]);
  const journals = () => {
    const path = join(home, 'state', 'sparctl', 'journals');
    return existsSync(path) ? readdirSync(path) : [];
  };
  return { dir, db, sparctl, importCsv, journals };
}

describe('a dry run explains', () => {
  it('reasons counted, the first rejects listed, previews in the export own format; the DB, journal, real rejects and results untouched', async () => {
    const { dir, db, sparctl, importCsv, journals } = setup();
    expect((await sparctl(['init'])).code).toBe(0);
    const rows = Array.from({ length: 30 }, (_, i) => row(i));
    rows[4] = row(4, { 'payment-bank_code': 'XXX' }); // line 6: not in the DFSP list
    rows[8] = row(8, { 'payment-payment_method': 'cash' }); // line 10: no such FA type
    rows[11] = row(11, { 'payment-bank_code': 'ZZZ' }); // line 13
    writeFileSync(join(dir, 'export.csv'), excel(rows));
    // The coordinator's fixed rejects of an earlier real run, and an earlier results file: never touched.
    writeFileSync(join(dir, 'export.rejects.csv'), 'MY EDITS\r\n');
    writeFileSync(join(dir, 'r.csv'), 'EARLIER RESULTS\n');
    const before = { db: sha(db), rejects: sha(join(dir, 'export.rejects.csv')), results: sha(join(dir, 'r.csv')) };

    const run = await importCsv('export.csv', '--dfsp', join(ROOT, 'fixtures/dfsp.json'), '--dry-run', '--results', 'r.csv');
    expect(run.code, run.stderr).toBe(5);
    const err = run.stderr;
    expect(err).toMatch(/^dry run: nothing was written; every count says what would happen$/m);
    expect(err).toMatch(/^would link +27$/m);
    expect(err).toMatch(/^would be rejected +3$/m);
    expect(err).not.toMatch(/\bapplied\b/);
    expect(err).toContain('would be rejected by reason: mapping.unknown_bank 2, mapping.unknown_value 1');
    expect(err).toContain('the 3 records that would be rejected:');
    expect(err).toMatch(/^ {2}line 6, ID token:412300000004@nationalId, field bank_code: mapping\.unknown_bank — .*XXX/m);
    expect(err).toMatch(/^ {2}line 10, ID token:412300000008@nationalId, field fa_type: mapping\.unknown_value — /m);
    expect(err).toContain(`rejects preview: ${join(dir, 'export.rejects.preview.csv')} (3 rows; the next dry run replaces it)`);
    expect(err).toContain(`results preview: ${join(dir, 'r.preview.csv')}`);
    expect(err).not.toContain('re-feed');
    expect(err).toMatch(/dry run: nothing was written but the previews/);

    expect(sha(db)).toBe(before.db);
    expect(journals()).toEqual([]);
    expect(sha(join(dir, 'export.rejects.csv'))).toBe(before.rejects);
    expect(sha(join(dir, 'r.csv'))).toBe(before.results);
    expect(readdirSync(dir).sort()).toEqual(
      ['export.csv', 'export.rejects.csv', 'export.rejects.preview.csv', 'm.json', 'mapper.db', 'r.csv', 'r.preview.csv']
        .concat(readdirSync(dir).filter((f) => /^mapper\.db-(wal|shm)$/.test(f)))
        .sort(),
    );

    // The preview is the reject file a real run would write: BOM, `;`, CRLF, reasons first, the rows as read.
    const preview = readFileSync(join(dir, 'export.rejects.preview.csv'), 'utf8');
    expect(preview.startsWith('\uFEFFsparctl_line;sparctl_field;sparctl_code;sparctl_message;SubmissionDate;start;')).toBe(true);
    const lines = preview.slice(1).split('\r\n');
    expect(lines.pop()).toBe('');
    expect(lines.some((l) => l.includes('\n'))).toBe(false);
    expect(lines.slice(1).map((l) => l.split(';').slice(0, 3).join(';'))).toEqual([
      '6;bank_code;mapping.unknown_bank',
      '10;fa_type;mapping.unknown_value',
      '13;bank_code;mapping.unknown_bank',
    ]);
    expect(lines[1]!.endsWith(rows[4]!)).toBe(true);
    // The results preview says what would happen, never what did.
    const results = readFileSync(join(dir, 'r.preview.csv'), 'utf8');
    expect(results).toMatch(/,link,would_apply,,/);
    expect(results).toMatch(/,would_be_rejected,,mapping\.unknown_bank,/);
    expect(results).not.toMatch(/,applied,|,linked,/);

    // -o json: dryRun, would-counts, the reasons and the first rejects; no "applied" anywhere.
    const json = await importCsv('export.csv', '--dfsp', join(ROOT, 'fixtures/dfsp.json'), '--dry-run', '-o', 'json');
    const doc = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(json.stdout).not.toMatch(/"applied"/);
    expect(doc).toMatchObject({
      dryRun: true,
      summary: {
        total: 30,
        wouldLink: 27,
        wouldBeRejected: 3,
        wouldBeRejectedBy: { 'mapping.unknown_bank': 2, 'mapping.unknown_value': 1 },
      },
      rejectsPreview: join(dir, 'export.rejects.preview.csv'),
      firstRejects: [
        { line: 6, id: 'token:412300000004@nationalId', field: 'bank_code', code: 'mapping.unknown_bank' },
        { line: 10, code: 'mapping.unknown_value' },
        { line: 13, code: 'mapping.unknown_bank' },
      ],
    });

    // The preview feeds back with the same flags as it is (its sparctl_* columns ignored)...
    const back = await importCsv('export.rejects.preview.csv', '--dfsp', join(ROOT, 'fixtures/dfsp.json'), '--dry-run');
    expect(back.code, back.stderr).toBe(5);
    expect(back.stderr).toContain('would be rejected by reason: mapping.unknown_bank 2, mapping.unknown_value 1');
    // ...and the next dry run replaces it; one that would reject nothing removes it.
    writeFileSync(join(dir, 'export.csv'), excel(rows.filter((_, i) => i !== 4 && i !== 8)));
    expect((await importCsv('export.csv', '--dfsp', join(ROOT, 'fixtures/dfsp.json'), '--dry-run')).code).toBe(5);
    expect(readFileSync(join(dir, 'export.rejects.preview.csv'), 'utf8').split('\r\n')).toHaveLength(3); // header, one row, ''
    writeFileSync(join(dir, 'export.csv'), excel(rows.filter((_, i) => i !== 4 && i !== 8 && i !== 11)));
    const clean = await importCsv('export.csv', '--dfsp', join(ROOT, 'fixtures/dfsp.json'), '--dry-run');
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stderr).toContain("an earlier dry run's preview (this one would reject nothing)");
    expect(existsSync(join(dir, 'export.rejects.preview.csv'))).toBe(false);
    expect(sha(join(dir, 'export.rejects.csv'))).toBe(before.rejects);
    expect(sha(db)).toBe(before.db);
  }, 60_000);
});

describe('the early stop', () => {
  it('1,500 rows and no bank list: exit 2 after the first 1,000 with one line and the flag; nothing left behind; fixed, the same command starts afresh', async () => {
    const { dir, sparctl, importCsv, journals } = setup();
    expect((await sparctl(['init'])).code).toBe(0);
    writeFileSync(join(dir, 'export.csv'), excel(Array.from({ length: 1500 }, (_, i) => row(i))));

    const stopped = await importCsv('export.csv');
    expect(stopped.code, stopped.stderr).toBe(2);
    const errors = stopped.stderr.split('\n').filter((l) => l.startsWith('sparctl: error'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /^sparctl: error \[input\.systematic\]: the first 1000 records were all rejected as [a-z_.]+ \(line 2: .*bank_name.*\); stopped before reading the other 500, nothing was sent \(.*--no-early-stop reads every row.*\)$/,
    );
    expect(stopped.stderr).toContain('not read: 500 records (stopped early on a systematic problem)');
    expect(stopped.stderr).not.toMatch(/resume with|journal:|rejects:/);
    expect(readdirSync(dir).filter((f) => f.includes('rejects'))).toEqual([]);
    expect(journals()).toEqual([]);
    const linked = async () => JSON.parse((await sparctl(['-o', 'json', 'resolve', 'token:412300000000@nationalId'])).stdout);
    expect(JSON.stringify(await linked())).toContain('not_linked');

    // The cause fixed (the bank list given): the same file runs whole, with no numbered reject file or resumed journal.
    const fixed = await importCsv('export.csv', '--dfsp', join(ROOT, 'fixtures/dfsp.json'));
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.stderr).toMatch(/^total +1500 +0 +0 +1500$/m);
    expect(readdirSync(dir).filter((f) => f.includes('rejects'))).toEqual([]);

    // A mapper's rejections never count: linking the same file again rejects every row as already linked, to the end.
    const again = await importCsv('export.csv', '--dfsp', join(ROOT, 'fixtures/dfsp.json'), '--mode', 'link', '--rejects', 'again.csv');
    expect(again.code, again.stderr).toBe(5);
    expect(again.stderr).toContain('rejected by reason: rjct.reference_id.duplicate 1500');
  }, 60_000);

  it('does not stop when only some of the first rows are bad, nor with --no-early-stop; --early-stop N probes N', async () => {
    const { dir, sparctl, importCsv } = setup();
    expect((await sparctl(['init'])).code).toBe(0);
    const dfsp = ['--dfsp', join(ROOT, 'fixtures/dfsp.json')];
    const bad = (i: number) => row(i, { 'payment-bank_code': 'NOPE' });
    // The first 20 bad but one.
    writeFileSync(join(dir, 'some.csv'), excel(Array.from({ length: 60 }, (_, i) => (i === 7 ? row(i) : bad(i)))));
    const some = await importCsv('some.csv', ...dfsp, '--early-stop', '20');
    expect(some.code, some.stderr).toBe(5);
    expect(some.stderr).toContain('rejected by reason: mapping.unknown_bank 59');

    writeFileSync(join(dir, 'all.csv'), excel(Array.from({ length: 60 }, (_, i) => bad(100 + i))));
    const probe = await importCsv('all.csv', ...dfsp, '--early-stop', '20');
    expect(probe.code).toBe(2);
    expect(probe.stderr).toMatch(
      /the first 20 records were all rejected as mapping\.unknown_bank \(line 2: .*NOPE.*\); stopped before reading the other 40/,
    );
    const all = await importCsv('all.csv', ...dfsp, '--early-stop', '20', '--no-early-stop');
    expect(all.code, all.stderr).toBe(5);
    expect(all.stderr).toContain('rejected by reason: mapping.unknown_bank 60');
    expect(readFileSync(join(dir, 'all.rejects.csv'), 'utf8').split('\r\n')).toHaveLength(62); // header, 60 rows, ''
  }, 60_000);
});
