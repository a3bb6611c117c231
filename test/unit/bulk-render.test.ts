import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgressRenderer, jobDocument, progressText, rejectLines, renderBulkSummary } from '../../src/cli/bulk-render.js';
import type { Io } from '../../src/cli/io.js';
import type { BulkSummary, ProgressEvent } from '../../src/core/bulk/events.js';

const ANSI = /\u001b\[/;

interface FakeIo {
  io: Io;
  stderr: () => string;
}

function fakeIo(options: { tty?: boolean; env?: Record<string, string> } = {}): FakeIo {
  const err = new PassThrough();
  let text = '';
  err.on('data', (chunk: Buffer) => (text += chunk.toString()));
  if (options.tty) {
    // Just enough of a tty.WriteStream for ora to draw and erase its line.
    Object.assign(err, {
      isTTY: true,
      columns: 80,
      cursorTo: () => err.write('\r'),
      moveCursor: () => true,
      clearLine: () => err.write('\u001b[K'),
    });
  }
  const io: Io = {
    stdout: new PassThrough(),
    stderr: err,
    stdin: new PassThrough(),
    stdoutIsTTY: false,
    stderrIsTTY: options.tty ?? false,
    stdinIsTTY: false,
    env: options.env ?? {},
    cwd: '/tmp',
    home: '/tmp',
    columns: 80,
  };
  return { io, stderr: () => text };
}

function progress(done: number, elapsed: number, extra: Partial<ProgressEvent> = {}): ProgressEvent {
  return {
    type: 'progress',
    read: done,
    done,
    applied: done,
    unchanged: 0,
    superseded: 0,
    skipped: 0,
    rejected: 0,
    retries: 0,
    elapsed,
    ...extra,
  };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('progress off a terminal', () => {
  it('prints at most one line per interval, however many events arrive', async () => {
    let clock = 0;
    const { io, stderr } = fakeIo();
    const renderer = createProgressRenderer(io, { quiet: false, label: 'import people.csv', intervalMs: 1000, now: () => clock });
    // 1000 events over 10 s of fake time.
    for (let i = 1; i <= 1000; i++) {
      clock += 10;
      renderer.onEvent(progress(i * 10, clock / 1000, { total: 10_000 }));
    }
    // A burst within one instant adds nothing.
    for (let i = 0; i < 500; i++) renderer.onEvent(progress(10_000, 10, { total: 10_000 }));
    renderer.stop();
    await flush();
    const lines = stderr().trimEnd().split('\n');
    expect(lines).toHaveLength(10);
    expect(lines.every((l) => l.startsWith('import people.csv: '))).toBe(true);
    expect(lines[0]).toBe(
      'import people.csv: 1000/10000 (10%) · 1000 rec/s · ETA 00:09 · applied 1000 · unchanged 0 · rejected 0 · retries 0',
    );
    expect(stderr()).not.toMatch(ANSI);
  });

  it('prints nothing for a run shorter than the interval, and nothing after stop()', async () => {
    let clock = 0;
    const { io, stderr } = fakeIo();
    const renderer = createProgressRenderer(io, { quiet: false, label: 'x', now: () => clock });
    clock = 4999;
    renderer.onEvent(progress(5, 4.999));
    renderer.stop();
    clock = 60_000;
    renderer.onEvent(progress(6, 60));
    await flush();
    expect(stderr()).toBe('');
  });

  it('gives each retry its own line, unthrottled, with the reason made printable', async () => {
    const { io, stderr } = fakeIo();
    const renderer = createProgressRenderer(io, { quiet: false, label: 'import', now: () => 0 });
    renderer.onEvent({ type: 'retry', operation: 'link', records: 500, attempt: 2, reason: 'HTTP 503\u001b[31m', delayMs: 2000 });
    renderer.onEvent({ type: 'retry', operation: 'update', records: 1, attempt: 3, reason: 'timeout', delayMs: 450 });
    await flush();
    expect(stderr()).toBe(
      'import: retrying 500 links (attempt 2) in 2.0 s: HTTP 503\\u001b[31m\n' +
        'import: retrying 1 update (attempt 3) in 0.5 s: timeout\n',
    );
  });

  it('prints nothing at all with quiet', async () => {
    let clock = 0;
    const { io, stderr } = fakeIo({ tty: true, env: { FORCE_COLOR: '1' } });
    const renderer = createProgressRenderer(io, { quiet: true, label: 'x', intervalMs: 1, now: () => clock });
    for (let i = 0; i < 100; i++) {
      clock += 100;
      renderer.onEvent(progress(i, clock / 1000));
      renderer.onEvent({ type: 'retry', operation: 'link', records: 1, attempt: 1, reason: 'r', delayMs: 1 });
    }
    await sleep(50);
    renderer.stop();
    expect(stderr()).toBe('');
  });

  it('never animates when stderr is not a terminal (FORCE_COLOR) or colour is off on one (NO_COLOR, TERM=dumb)', async () => {
    const setups: { tty?: boolean; env: Record<string, string> }[] = [
      { env: { FORCE_COLOR: '1' } },
      { tty: true, env: { NO_COLOR: '1' } },
      { tty: true, env: { TERM: 'dumb' } },
      { tty: true, env: { FORCE_COLOR: '1', CI: 'true' } },
    ];
    for (const setup of setups) {
      let clock = 0;
      const { io, stderr } = fakeIo(setup);
      const renderer = createProgressRenderer(io, { quiet: false, label: 'x', intervalMs: 100, now: () => clock });
      for (let i = 1; i <= 20; i++) {
        clock += 50;
        renderer.onEvent(progress(i, clock / 1000));
      }
      await sleep(50);
      renderer.stop();
      expect(stderr()).not.toMatch(ANSI);
      expect(stderr().trimEnd().split('\n')).toHaveLength(10);
    }
  });
});

describe('progress text', () => {
  it('uses the last ~10 s for the rate, so a slowdown shows', () => {
    let clock = 0;
    const { io, stderr } = fakeIo();
    const renderer = createProgressRenderer(io, { quiet: false, label: 'x', intervalMs: 30_000, now: () => clock });
    // 20 s at 100 rec/s, then 20 s at 10 rec/s.
    let done = 0;
    for (let s = 1; s <= 40; s++) {
      done += s <= 20 ? 100 : 10;
      clock = s * 1000;
      renderer.onEvent(progress(done, s, { total: 10_000 }));
    }
    // Printed at 30 s: the window (20..30 s) is all slow; the whole-run average would be 70.
    expect(stderr()).toContain('x: 2100/10000 (21%) · 10 rec/s · ETA 13:10 ·');
  });

  it('has no ETA and no total when the total is unknown; compact drops zero counts', () => {
    const event = progress(42, 4, { applied: 40, rejected: 2 });
    expect(progressText(event, 10.5)).toBe('42 · 11 rec/s · applied 40 · unchanged 0 · rejected 2 · retries 0');
    expect(progressText(event, 10.5, true)).toBe('42 · 11 rec/s · applied 40 · rejected 2');
    // Superseded rows are not "unchanged" (the summary counts them apart): named when there are some.
    const repeated = progress(42, 4, { applied: 30, superseded: 12 });
    expect(progressText(repeated, 10.5)).toBe('42 · 11 rec/s · applied 30 · unchanged 0 · superseded 12 · rejected 0 · retries 0');
    expect(progressText(repeated, 10.5, true)).toBe('42 · 11 rec/s · applied 30 · superseded 12');
    expect(progressText(progress(10, 1, { total: 20 }), 0)).toContain('ETA --:--');
    expect(progressText(progress(0, 1, { total: 100_000 }), 10)).toContain('ETA 2:46:40');
  });
});

describe('progress on a terminal', () => {
  it('draws one spinner line with the newest state and erases it on stop', async () => {
    const { io, stderr } = fakeIo({ tty: true, env: { FORCE_COLOR: '1' } });
    const renderer = createProgressRenderer(io, { quiet: false, label: 'import people.csv' });
    for (let i = 1; i <= 2000; i++) renderer.onEvent(progress(i, i / 1000, { total: 4000 }));
    renderer.onEvent({ type: 'retry', operation: 'link', records: 3, attempt: 2, reason: 'HTTP 429', delayMs: 1000 });
    // Until ora has loaded and the throttled update landed (a fixed 400 ms was too short for a
    // busy CI machine); at most 10 s.
    for (let waited = 0; waited < 10_000 && !stderr().includes('HTTP 429'); waited += 50) await sleep(50);
    const shown = stderr();
    renderer.stop();
    expect(shown).toContain('import people.csv · 2000/4000 (50%) · 3 links: retry 2 in 1.0 s, HTTP 429');
    // Every frame fits on one 80-column line.
    const frames = shown.split('\r').map((f) => f.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, ''));
    expect(Math.max(...frames.map((f) => f.length))).toBeLessThanOrEqual(80);
    const before = stderr().length;
    await sleep(200);
    expect(stderr().length).toBe(before);
  });
});

function summary(extra: Partial<BulkSummary> = {}): BulkSummary {
  return {
    total: 120,
    applied: 100,
    confirmed: 0,
    unchanged: 12,
    superseded: 0,
    skipped: 0,
    rejected: 6,
    notSent: 2,
    earlier: {},
    retries: 0,
    seconds: 4,
    byOperation: {
      link: { applied: 90, rejected: 3 },
      update: { applied: 10, unchanged: 0 },
      none: { unchanged: 12, rejected: 3 },
    },
    rejectedBy: { 'rjct.reference_id.duplicate': 3, 'input.invalid': 3 },
    skippedBy: {},
    dryRun: false,
    ...extra,
  };
}

/** The table row whose first cell is `label`, as its cell values ('' is the header: its first cell is empty). */
function row(text: string, label: string): string[] | undefined {
  const lines = text.split('\n');
  // No frame: cells are apart by two spaces or more.
  if (label === '') return lines[0]!.trim().split(/ {2,}/);
  for (const line of lines) {
    const cells = line.trim().split(/ {2,}/);
    if (cells[0] === label) return cells.slice(1);
  }
  return undefined;
}

describe('summary', () => {
  it('an input with no records (a header and nothing after it) says so, not a rate of 0.0 rec/s', () => {
    const { io, stderr } = fakeIo();
    const none = summary({ total: 0, applied: 0, unchanged: 0, rejected: 0, notSent: 0, byOperation: {}, rejectedBy: {}, seconds: 0.01 });
    renderBulkSummary(io, none, { target: 'local /data/mapper.db' });
    expect(stderr()).toContain('\n0 records: the input holds none; nothing was sent · local /data/mapper.db\n');
    expect(stderr()).not.toContain('rec/s');
  });

  it('shows counts per operation and fate with a total row, plain and within 80 columns', () => {
    const { io, stderr } = fakeIo();
    renderBulkSummary(io, summary(), { target: 'local /data/mapper.db' });
    const text = stderr();
    expect(text).not.toMatch(ANSI);
    // Records not done have a column of their own, counted for the run (a record not sent has no operation yet).
    expect(row(text, '')).toEqual(['applied', 'unchanged', 'rejected', 'not done', 'total']);
    expect(row(text, 'link')).toEqual(['90', '0', '3', '93']);
    expect(row(text, 'update')).toEqual(['10', '0', '0', '10']);
    expect(row(text, 'no write')).toEqual(['0', '12', '3', '15']);
    expect(row(text, 'unlink')).toBeUndefined();
    // 118 settled + 2 not done = 120: the counts add up, the table's total row too.
    expect(row(text, 'total')).toEqual(['100', '12', '6', '2', '120']);
    expect(text).toContain('\n120 records in 4.0 s (30 rec/s) · local /data/mapper.db\n');
    expect(text).toContain('not done: 2 records (not sent, or no answer came)');
    expect(text).toContain('rejected by reason: rjct.reference_id.duplicate 3, input.invalid 3');
    expect(text).not.toMatch(/earlier run|rejects:|results:|journal:|stopped|resume with/);
    expect(Math.max(...text.split('\n').map((l) => l.length))).toBeLessThanOrEqual(80);
  });

  it('a run that did every record has no not-done column', () => {
    const { io, stderr } = fakeIo();
    renderBulkSummary(io, summary({ total: 118, notSent: 0 }), { target: 'local /data/mapper.db' });
    expect(row(stderr(), '')).toEqual(['applied', 'unchanged', 'rejected', 'total']);
    expect(row(stderr(), 'total')).toEqual(['100', '12', '6', '118']);
  });

  it('adds earlier runs, rejects, results, journal, stop reason and resume hint when they apply', () => {
    const { io, stderr } = fakeIo();
    renderBulkSummary(
      io,
      summary({
        earlier: { applied: 40 },
        notSent: 0,
        retries: 3,
        seconds: 125,
        rejectedBy: {},
        stopped: { code: 'target.unavailable', message: 'the mapper did not answer', exitCode: 4 },
      }),
      {
        target: 'https://spar.example.org',
        rejectsPath: './people.rejects.csv',
        rejectsCount: 6,
        resultsPath: './people.results.jsonl',
        journalPath: '/state/sparctl/journals/ab12.db',
        resumeHint: 'sparctl import people.csv --resume',
      },
    );
    const lines = stderr().trimEnd().split('\n');
    const tail = lines.slice(lines.findIndex((l) => l.startsWith('120 records')));
    expect(tail).toEqual([
      // Rate counts only what this run did: (120 - 40) / 125 s.
      '120 records in 2 min 05 s (0.6 rec/s) · https://spar.example.org',
      'settled by an earlier run of this job: 40 applied',
      'retries: 3',
      'rejects: ./people.rejects.csv (6 rows)',
      'results: ./people.results.jsonl',
      'journal: /state/sparctl/journals/ab12.db',
      'stopped early: the mapper did not answer (target.unavailable)',
      'resume with: sparctl import people.csv --resume',
    ]);
  });

  it('takes the reject row count from the sink (what the file holds), and omits the rejects line when it holds none', () => {
    const a = fakeIo();
    renderBulkSummary(a.io, summary(), { target: 't', rejectsPath: 'r.csv', rejectsCount: 1 });
    expect(a.stderr()).toContain('rejects: r.csv (1 row)\n');
    const b = fakeIo();
    renderBulkSummary(b.io, summary({ rejected: 0, notSent: 0 }), { target: 't', rejectsPath: 'r.csv' });
    expect(b.stderr()).not.toContain('rejects:');
  });

  it('uses colour only when stderr allows it', () => {
    const { io, stderr } = fakeIo({ env: { FORCE_COLOR: '1' } });
    renderBulkSummary(io, summary(), { target: 't' });
    expect(stderr()).toMatch(ANSI);
  });

  it('a dry run: one count per line labelled "would …", never "applied"; previews named as previews; no re-feed command', () => {
    const { io, stderr } = fakeIo();
    const dry = summary({
      dryRun: true,
      notSent: 0,
      applied: 100,
      byOperation: { link: { applied: 90, rejected: 3 }, update: { applied: 10 }, none: { unchanged: 12, rejected: 3 } },
    });
    renderBulkSummary(io, dry, {
      target: 't',
      rejectsPath: 'x.rejects.preview.csv',
      rejectsCount: 6,
      resultsPath: 'r.preview.csv',
      refeed: 'sparctl link --file x.rejects.preview.csv',
    });
    const text = stderr();
    expect(text).toMatch(/^dry run: nothing was written; every count says what would happen\n/);
    expect(text).not.toMatch(/applied|re-feed/);
    expect(row(text, 'would link')).toEqual(['90']);
    expect(row(text, 'would update')).toEqual(['10']);
    expect(row(text, 'would unlink')).toBeUndefined();
    expect(row(text, 'unchanged')).toEqual(['12']);
    expect(row(text, 'would be rejected')).toEqual(['6']);
    expect(row(text, 'total')).toEqual(['118']);
    expect(text).toContain('would be rejected by reason: rjct.reference_id.duplicate 3, input.invalid 3');
    expect(text).toContain('rejects preview: x.rejects.preview.csv (6 rows; the next dry run replaces it)');
    expect(text).toContain('results preview: r.preview.csv');
  });

  it('a stop on a systematic problem says "not read", and leaves the reason to the error line', () => {
    const { io, stderr } = fakeIo();
    renderBulkSummary(
      io,
      summary({ notSent: 500, stopped: { code: 'input.systematic', message: 'the first 1000 …', exitCode: 2, hint: 'h' } }),
      { target: 't' },
    );
    expect(stderr()).toContain('not read: 500 records (stopped early on a systematic problem)');
    expect(stderr()).not.toMatch(/stopped early:|resume with/);
  });
});

describe('first rejects and the -o json document', () => {
  const reject = {
    type: 'record',
    seq: 0,
    line: 7,
    id: 'B1',
    fate: 'rejected',
    code: 'mapping.unknown_bank',
    message: 'bank "X" is not in the DFSP list',
    field: 'bank_code',
  } as const;
  const result = (dryRun: boolean) => ({
    command: 'import-csv',
    target: 'local m.db',
    summary: summary({ dryRun, byOperation: { link: { applied: 90, rejected: 3 }, update: { applied: 10 } } }),
    dryRun,
    stoppedEarly: false,
    stoppedOnProblem: false,
    rejects: { path: 'x.rejects.preview.csv', count: 6 },
    resultsPath: 'r.preview.csv',
    planned: [],
    firstRejects: [reject],
    exitCode: 5,
  });

  it('one line per reject: line, ID, field, code and message', () => {
    expect(rejectLines([reject])).toEqual(['  line 7, ID B1, field bank_code: mapping.unknown_bank — bank "X" is not in the DFSP list']);
  });

  it('a dry run\'s document says dryRun and counts what would happen, with no "applied" key anywhere; a real run\'s keeps its counts', () => {
    const dry = jobDocument(result(true));
    expect(JSON.stringify(dry)).not.toMatch(/"applied"|"rejected"|"rejects"|"results"/);
    expect(dry).toMatchObject({
      dryRun: true,
      summary: {
        total: 120,
        wouldLink: 90,
        wouldUpdate: 10,
        wouldUnlink: 0,
        wouldBeRejected: 6,
        wouldBeRejectedBy: { 'input.invalid': 3 },
      },
      rejectsPreview: 'x.rejects.preview.csv',
      resultsPreview: 'r.preview.csv',
      firstRejects: [{ line: 7, id: 'B1', field: 'bank_code', code: 'mapping.unknown_bank', message: reject.message }],
    });
    const real = jobDocument(result(false));
    expect(real).toMatchObject({
      dryRun: false,
      summary: { applied: 100, rejectedBy: { 'input.invalid': 3 } },
      rejects: 'x.rejects.preview.csv',
    });
    expect(real).not.toHaveProperty('firstRejects');
  });
});
