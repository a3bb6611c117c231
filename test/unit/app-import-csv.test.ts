import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importCsv, type CsvImportJob, type ImportCsvDeps, type ImportCsvInput } from '../../src/app/import-csv.js';
import type { BulkInputRecord } from '../../src/core/bulk/types.js';
import { ExitCode } from '../../src/core/errors.js';
import { dfspDefinitionText } from '../../src/core/mapping.js';
import { DEFAULT_STRATEGIES } from '../../src/core/strategy/strategy.js';
import { ROOT } from '../helpers/run-cli.js';
import { strict } from '../helpers/strict.js';

const MAPPING = join(ROOT, 'fixtures', 'enumeration.mapping.json');
const DFSP = join(ROOT, 'fixtures', 'dfsp.json');
const [HEADER, ...ROWS] = readFileSync(join(ROOT, 'fixtures', 'enumeration.csv'), 'utf8')
  .trim()
  .split('\n');
const COLUMNS = HEADER!.split(',');
const STRATEGIES = new Map(DEFAULT_STRATEGIES.map((s) => [s.id, s]));

const INPUT: ImportCsvInput = { file: 'survey.csv', mapping: MAPPING, dfsp: DFSP, mode: 'upsert' };

/** Deps that read real fixture files, note each read, and hand the job back instead of running it. */
function deps(overrides: Partial<ImportCsvDeps> = {}): ImportCsvDeps & { reads: string[]; jobs: CsvImportJob[] } {
  const reads: string[] = [];
  const jobs: CsvImportJob[] = [];
  const base: Partial<ImportCsvDeps> = {
    yes: false,
    version: '9.9.9',
    readText: async (file, flag) => {
      reads.push(flag);
      return readFileSync(file, 'utf8');
    },
    parseJson: (text) => JSON.parse(text),
    runJob: async (job) => {
      jobs.push(job);
      return ExitCode.ok;
    },
  };
  return Object.assign(strict<ImportCsvDeps>('deps', { ...base, ...overrides }), { reads, jobs });
}

/** Rows of the fixture as record-file.ts hands them over (line 2 on). */
function rows(lines: readonly string[]) {
  return lines.map((text, i) => ({ line: i + 2, record: Object.fromEntries(COLUMNS.map((c, j) => [c, text.split(',')[j] ?? ''])) }));
}

async function records(job: CsvImportJob, lines: readonly string[]): Promise<BulkInputRecord[]> {
  const out: BulkInputRecord[] = [];
  for await (const batch of job.records(
    (async function* () {
      yield rows(lines);
    })(),
  ))
    out.push(...batch);
  return out;
}

describe('import-csv (use case)', () => {
  it("checks the delimiter before reading anything, then reads the mapping and the DFSP file given; the target's DFSP data is not asked for", async () => {
    for (const delimiter of [';;', '"', '\n', '\r', '']) {
      const bad = deps();
      await expect(importCsv(bad, { ...INPUT, delimiter })).rejects.toMatchObject({
        code: 'usage.delimiter',
        message: `--delimiter ${JSON.stringify(delimiter)}: a delimiter must be one character other than a quote or a line break`,
      });
      expect(bad.reads).toEqual([]);
      expect(bad.jobs).toEqual([]);
    }
    const d = deps(); // targetDfsp is not given: asking for it fails the test
    expect(await importCsv(d, INPUT)).toEqual({ exitCode: ExitCode.ok });
    const definition = JSON.parse(d.jobs[0]!.definition) as Record<string, unknown>;
    expect(definition).toEqual({
      mapping: readFileSync(MAPPING, 'utf8'),
      dfsp: readFileSync(DFSP, 'utf8'),
      delimiter: ',',
      skipReview: ['rejected'],
    });
  });

  it("without --dfsp, the target's DFSP data checks codes and is part of the job's definition; without either, none", async () => {
    const data = JSON.parse(readFileSync(DFSP, 'utf8'));
    const d = deps({ targetDfsp: async () => data });
    await importCsv(d, { ...INPUT, dfsp: undefined });
    // In one order whatever the source's (the local mapper's: by code), so a reordered list is the same job.
    expect(JSON.parse(d.jobs[0]!.definition).dfsp).toBe(dfspDefinitionText(data));
    expect(JSON.parse(JSON.parse(d.jobs[0]!.definition).dfsp).banks.map((bank: { code: string }) => bank.code)).toEqual([
      'BDO',
      'DBP',
      'LBP',
      'PNB',
    ]);
    d.jobs[0]!.useStrategies(STRATEGIES);
    d.jobs[0]!.onHeader(COLUMNS, COLUMNS, ',');
    const [first] = await records(d.jobs[0]!, [ROWS[0]!]);
    expect(first!.parsed.ok).toBe(true);
    const none = deps({ targetDfsp: async () => undefined });
    await importCsv(none, { ...INPUT, dfsp: undefined });
    expect(JSON.parse(none.jobs[0]!.definition).dfsp).toBeNull();
  });

  it('the delimiter: the one given, else a .tsv is read with tabs; the definition keeps the one asked for; stdin is "stdin" in messages', async () => {
    const d = deps();
    await importCsv(d, { ...INPUT, file: 'Survey.TSV' });
    await importCsv(d, { ...INPUT, file: 'survey.tsv', delimiter: ';' });
    await importCsv(d, { ...INPUT, file: '-' });
    expect(d.jobs.map((job) => [job.delimiter, JSON.parse(job.definition).delimiter, job.label])).toEqual([
      ['\t', ',', 'Survey.TSV'],
      [';', ';', 'survey.tsv'],
      [',', ',', 'stdin'],
    ]);
  });

  it('a header without a column the mapping reads stops the job before any row, naming the columns it has', async () => {
    const d = deps();
    await importCsv(d, { ...INPUT, file: '-' });
    const job = d.jobs[0]!;
    const header = COLUMNS.filter((c) => c !== 'national_id' && c !== 'account_no');
    expect(() => job.onHeader(header, header, ',')).toThrow(
      expect.objectContaining({
        code: 'input.missing_column',
        message: 'stdin:1: the mapping reads columns "national_id", "account_no", which the file does not have; nothing was sent',
        hint: `the file's columns are: ${header.join(', ')}`,
      }),
    );
    const one = COLUMNS.filter((c) => c !== 'wallet');
    expect(() => job.onHeader(one, one, ',')).toThrow(
      'stdin:1: the mapping reads column "wallet", which the file does not have; nothing was sent',
    );
    job.onHeader(COLUMNS, COLUMNS, ',');
    expect(job.columns()).toEqual(COLUMNS);
  });

  it('rows become records numbered in input order, keyed by the ID the mapping builds, in the mode of the job', async () => {
    const d = deps();
    await importCsv(d, { ...INPUT, mode: 'unlink' });
    const job = d.jobs[0]!;
    job.useStrategies(STRATEGIES);
    job.onHeader(COLUMNS, COLUMNS, ',');
    expect(job.keyColumns()).toEqual(['national_id']);
    expect(job.keyOf((column) => (column === 'national_id' ? '000412345001' : undefined))).toBe('token:000412345001@nationalId');
    const out = await records(job, ROWS.slice(0, 3));
    expect(out.map((r) => [r.seq, r.line, r.key])).toEqual([0, 1, 2].map((i) => [i, i + 2, `token:00041234500${i + 1}@nationalId`]));
    expect(out.every((r) => r.parsed.ok && r.parsed.mode === 'unlink')).toBe(true);
  });
});
