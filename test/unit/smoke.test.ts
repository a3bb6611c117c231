import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { smokeJunitXml, xmlAttr, xmlText } from '../../src/adapters/files/junit.js';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { ConfigError, UnavailableError } from '../../src/core/errors.js';
import type { LinkItem, Mapper, ResolveItem, UnlinkItem } from '../../src/core/mapper.js';
import { ReasonCode, ReasonMessage, type ItemResult } from '../../src/core/results.js';
import { SMOKE_FA, SMOKE_FA_UPDATED, runSmoke, type SmokeReport } from '../../src/core/smoke.js';
import { DEFAULT_STRATEGIES, constructFa } from '../../src/core/strategy/strategy.js';
import { tempDir } from '../helpers/tmp.js';

type Op = 'link' | 'update' | 'resolve' | 'unlink';

/**
 * An in-memory mapper that answers like SPAR; `hooks` replace one call (by operation and its
 * n-th occurrence) to answer wrongly, throw or hang.
 */
class FakeMapper implements Mapper {
  readonly target = 'fake in-memory';
  readonly rows = new Map<string, Record<string, unknown>>();
  readonly calls: Op[] = [];
  hooks = new Map<string, (items: readonly { reference_id: string; id: string }[]) => Promise<ItemResult[]>>();

  private async answer(op: Op, items: readonly { reference_id: string; id: string }[], normal: () => ItemResult[]): Promise<ItemResult[]> {
    this.calls.push(op);
    const hook = this.hooks.get(`${op}#${this.calls.filter((c) => c === op).length}`);
    return hook ? hook(items) : normal();
  }
  link(items: readonly LinkItem[]) {
    return this.answer('link', items, () =>
      items.map((i) => {
        if (this.rows.has(i.id)) return rjct(i, ReasonCode.referenceIdDuplicate, ReasonMessage.alreadyMapped);
        this.rows.set(i.id, { ...i.fa });
        return { ...succ(i), fa: constructFa(DEFAULT_STRATEGIES[1]!, i.fa) };
      }),
    );
  }
  update(items: readonly LinkItem[]) {
    return this.answer('update', items, () =>
      items.map((i) => {
        if (!this.rows.has(i.id)) return rjct(i, ReasonCode.referenceIdDuplicate, ReasonMessage.notLinked);
        this.rows.set(i.id, { ...i.fa });
        return succ(i);
      }),
    );
  }
  resolve(items: readonly ResolveItem[]) {
    return this.answer('resolve', items, () =>
      items.map((i) => {
        const row = this.rows.get(i.id);
        if (!row)
          return {
            ...succ(i),
            status_reason_code: ReasonCode.faNotLinkedToId,
            status_reason_message: ReasonMessage.resolveNotLinked,
            fa: null,
          };
        return { ...succ(i), status_reason_code: ReasonCode.idActive, fa: { ...row } };
      }),
    );
  }
  unlink(items: readonly UnlinkItem[]) {
    return this.answer('unlink', items, () =>
      items.map((i) => (this.rows.delete(i.id) ? succ(i) : rjct(i, ReasonCode.idInvalid, ReasonMessage.notLinked))),
    );
  }
  async strategies() {
    return [...DEFAULT_STRATEGIES];
  }
  async close() {}
}

const succ = (i: { reference_id: string; id: string }): ItemResult => ({
  reference_id: i.reference_id,
  id: i.id,
  status: 'succ',
  status_reason_code: null,
  status_reason_message: null,
});
const rjct = (i: { reference_id: string; id: string }, code: string, message: string): ItemResult => ({
  ...succ(i),
  status: 'rjct',
  status_reason_code: code,
  status_reason_message: message,
});

/** A clock that advances 7 ms per reading: latencies are exact. */
function fakeClock(): () => number {
  let now = 1000;
  return () => (now += 7);
}

const ID = 'sparctl-smoke-test-0001';
const statuses = (report: SmokeReport) => Object.fromEntries(report.steps.map((s) => [s.step, s.status]));

describe('runSmoke', () => {
  it('passes every step against a healthy mapper, times each call, and leaves nothing behind', async () => {
    const mapper = new FakeMapper();
    const report = await runSmoke(mapper, { id: ID, clock: fakeClock() });
    expect(report.steps.map((s) => [s.step, s.status, s.ms])).toEqual([
      ['link', 'pass', 7],
      ['resolve_linked', 'pass', 7],
      ['update', 'pass', 7],
      ['resolve_updated', 'pass', 7],
      ['unlink', 'pass', 7],
      ['resolve_unlinked', 'pass', 7],
    ]);
    expect(report).toMatchObject({ passed: true, exitCode: 0, id: ID, target: 'fake in-memory', cleanup: { state: 'removed' } });
    expect(report.steps[3]!.got).toBe(`found, account_number ${SMOKE_FA_UPDATED.account_number}`);
    expect(mapper.calls).toEqual(['link', 'resolve', 'update', 'resolve', 'unlink', 'resolve']);
    expect(mapper.rows.size).toBe(0);
  });

  it('passes against the embedded SQLite mapper', async () => {
    const mapper = LocalMapper.open(join(tempDir(), 'mapper.db'));
    try {
      const report = await runSmoke(mapper, { id: ID, clock: () => performance.now() });
      expect(report.steps.filter((s) => s.status !== 'pass')).toEqual([]);
      expect(report.exitCode).toBe(0);
    } finally {
      await mapper.close();
    }
  });

  it('fails the step whose answer is wrong (the old account number after the update) and still cleans up', async () => {
    const mapper = new FakeMapper();
    mapper.hooks.set('resolve#2', async (items) =>
      items.map((i) => ({ ...succ(i), status_reason_code: ReasonCode.idActive, fa: { ...SMOKE_FA } })),
    );
    const report = await runSmoke(mapper, { id: ID, clock: fakeClock() });
    expect(statuses(report)).toEqual({
      link: 'pass',
      resolve_linked: 'pass',
      update: 'pass',
      resolve_updated: 'fail',
      unlink: 'pass',
      resolve_unlinked: 'pass',
    });
    const failed = report.steps[3]!;
    expect(failed.expected).toBe('outcome found, account_number 0000000002');
    expect(failed.got).toContain('account_number "0000000001" (expected "0000000002")');
    expect(failed.error).toBeUndefined();
    expect(report.steps[4]!.cleanup).toBe(true);
    expect(report).toMatchObject({ passed: false, exitCode: 5, cleanup: { state: 'removed' } });
    expect(mapper.rows.size).toBe(0);
  });

  it('reports a missing FA field and a wrong outcome in the check of resolve (details)', async () => {
    const mapper = new FakeMapper();
    const { bank_code: _dropped, ...partial } = SMOKE_FA;
    mapper.hooks.set('resolve#1', async (items) =>
      items.map((i) => ({ ...succ(i), status_reason_code: ReasonCode.idActive, fa: { ...partial, strategy_id: '2' } })),
    );
    const report = await runSmoke(mapper, { id: ID, clock: fakeClock() });
    expect(report.steps[1]).toMatchObject({
      status: 'fail',
      got: expect.stringMatching(/^found, but bank_code missing \(expected "SPARCTLSMOKE"\)$/),
    });
    // Steps that build on it are skipped; the cleanup runs.
    expect(statuses(report)).toMatchObject({ update: 'skipped', resolve_updated: 'skipped', unlink: 'pass', resolve_unlinked: 'pass' });
    expect(report.steps[2]!.got).toBe('resolve (details) did not pass');
    expect(mapper.calls).toEqual(['link', 'resolve', 'unlink', 'resolve']);
  });

  it('unlinks the record when the update throws, and takes the exit code of the error', async () => {
    const mapper = new FakeMapper();
    mapper.hooks.set('update#1', async () => {
      throw new UnavailableError('remote.reset', 'POST http://spar/mapper/update: the connection was closed before an answer came', {
        outcomeUnknown: true,
      });
    });
    const report = await runSmoke(mapper, { id: ID, clock: fakeClock() });
    expect(statuses(report)).toEqual({
      link: 'pass',
      resolve_linked: 'pass',
      update: 'fail',
      resolve_updated: 'skipped',
      unlink: 'pass',
      resolve_unlinked: 'pass',
    });
    expect(report.steps[2]).toMatchObject({
      error: { code: 'remote.reset', exitCode: 4 },
      got: expect.stringMatching(/^error: POST http:\/\/spar\/mapper\/update: the connection was closed/),
    });
    expect(report).toMatchObject({ exitCode: 4, cleanup: { state: 'removed', detail: 'the synthetic record was removed' } });
    expect(mapper.calls).toEqual(['link', 'resolve', 'update', 'unlink', 'resolve']);
    expect(mapper.rows.size).toBe(0);
  });

  it('cleans up after a bug-like exception too (exit 1)', async () => {
    const mapper = new FakeMapper();
    mapper.hooks.set('update#1', async () => {
      throw new TypeError('boom');
    });
    const report = await runSmoke(mapper, { id: ID, clock: fakeClock() });
    expect(report).toMatchObject({ exitCode: 1, cleanup: { state: 'removed' } });
    expect(mapper.rows.size).toBe(0);
  });

  it('after a link that timed out: reads back, unlinks accepting "not found", and, never having seen it linked, says the cleanup is unknown', async () => {
    const mapper = new FakeMapper();
    mapper.hooks.set('link#1', () => new Promise<ItemResult[]>(() => undefined)); // never answers
    const report = await runSmoke(mapper, {
      id: ID,
      clock: () => performance.now(),
      stepTimeoutMs: 30,
      resolveCommand: `sparctl --url http://x resolve ${ID}`,
      unlinkCommand: `sparctl --url http://x unlink --id ${ID} --yes`,
    });
    expect(report.steps[0]).toMatchObject({ status: 'fail', error: { code: 'smoke.timeout', exitCode: 4 } });
    expect(report.steps.map((s) => [s.step, s.status, s.cleanup])).toEqual([
      ['link', 'fail', false],
      ['resolve_linked', 'pass', true],
      ['update', 'skipped', false],
      ['resolve_updated', 'skipped', false],
      ['unlink', 'pass', true],
      ['resolve_unlinked', 'pass', true],
    ]);
    expect(report.steps[1]!.expected).toBe("outcome found or not found (the link's outcome is unknown)");
    expect(report.steps[4]!.expected).toBe('outcome unlinked or not found');
    expect(mapper.calls).toEqual(['link', 'resolve', 'unlink', 'resolve']);
    // Not found now says nothing of a link still on its way: never "removed".
    expect(report).toMatchObject({
      passed: false,
      exitCode: 4,
      cleanup: {
        state: 'unknown',
        detail: `the link's outcome is unknown and ${ID} was not seen linked, but the link may still be applied: check with "sparctl --url http://x resolve ${ID}" and, if it is linked, remove it with "sparctl --url http://x unlink --id ${ID} --yes"`,
      },
    });
  });

  it('after a link of unknown outcome whose cleanup cannot reach the mapper either (a redirect every time): unknown, with both commands, not failed', async () => {
    const mapper = new FakeMapper();
    const redirected = () => Promise.reject(new UnavailableError('remote.redirected', 'answered 307', { outcomeUnknown: true }));
    for (const call of ['link#1', 'resolve#1', 'unlink#1', 'resolve#2']) mapper.hooks.set(call, redirected);
    const report = await runSmoke(mapper, {
      id: ID,
      clock: fakeClock(),
      resolveCommand: `sparctl resolve ${ID}`,
      unlinkCommand: `sparctl unlink --id ${ID} --yes`,
    });
    expect(report).toMatchObject({
      passed: false,
      cleanup: {
        state: 'unknown',
        detail: `the link's outcome is unknown and the cleanup could not tell whether ${ID} is linked: check with "sparctl resolve ${ID}" and, if it is linked, remove it with "sparctl unlink --id ${ID} --yes"`,
      },
    });
  });

  it('after a link of unknown outcome that lands only after the unlink: the last read-back finds it, and the cleanup failed, not unknown', async () => {
    const mapper = new FakeMapper();
    let late: string | undefined;
    mapper.hooks.set('link#1', (items) => {
      late = items[0]!.id;
      return Promise.reject(new UnavailableError('remote.timeout', 'no answer', { outcomeUnknown: true }));
    });
    // The held link lands once the unlink found nothing.
    mapper.hooks.set('unlink#1', async (items) => {
      const answer = await mapper.unlink(items);
      mapper.rows.set(late!, { ...SMOKE_FA });
      return answer;
    });
    const report = await runSmoke(mapper, { id: ID, clock: fakeClock(), unlinkCommand: `sparctl unlink --id ${ID} --yes` });
    expect(report.steps.at(-1)).toMatchObject({ step: 'resolve_unlinked', status: 'fail' });
    expect(report.cleanup).toEqual({
      state: 'failed',
      detail: `${ID} may still be linked: remove it with "sparctl unlink --id ${ID} --yes"`,
    });
  });

  it("after a link of unknown outcome that was applied (timeout, redirect, strategy.mismatch): read back found, removed, the error's exit code", async () => {
    const cases: [
      string,
      (mapper: FakeMapper) => (items: readonly { reference_id: string; id: string }[]) => Promise<ItemResult[]>,
      number,
    ][] = [
      // Applied at once, answered too late.
      ['timeout', (m) => (items) => (m.rows.set(items[0]!.id, { ...SMOKE_FA }), new Promise<ItemResult[]>(() => undefined)), 4],
      // A gateway passed it on, then answered 303 (README: remote.redirected).
      [
        'redirect',
        (m) => async (items) => {
          m.rows.set(items[0]!.id, { ...SMOKE_FA });
          throw new ConfigError('remote.redirected', 'link at http://x/mapper/link answered HTTP 303, a redirect');
        },
        3,
      ],
      // The mapper applied it, and its answer showed another strategy 2.
      [
        'strategy.mismatch',
        (m) => async (items) => {
          m.rows.set(items[0]!.id, { ...SMOKE_FA });
          throw new ConfigError('strategy.mismatch', 'this request was applied, nothing more is sent');
        },
        3,
      ],
    ];
    for (const [what, link, exitCode] of cases) {
      const mapper = new FakeMapper();
      mapper.hooks.set('link#1', link(mapper));
      // The unlink is redirected too, after it was applied: the read back is what tells.
      if (what === 'redirect')
        mapper.hooks.set('unlink#1', async (items) => {
          mapper.rows.delete(items[0]!.id);
          throw new ConfigError('remote.redirected', 'unlink at http://x/mapper/unlink answered HTTP 303, a redirect');
        });
      const report = await runSmoke(mapper, { id: ID, clock: () => performance.now(), stepTimeoutMs: 30 });
      expect({ what, calls: mapper.calls }).toEqual({ what, calls: ['link', 'resolve', 'unlink', 'resolve'] });
      expect({ what, readBack: report.steps[1]!.got }).toEqual({ what, readBack: 'found, account_number 0000000001' });
      expect({ what, report }).toMatchObject({
        what,
        report: { passed: false, exitCode, cleanup: { state: 'removed', detail: 'the synthetic record was removed' } },
      });
      expect(mapper.rows.size).toBe(0);
    }
  });

  it('does not try to clean up when the link was refused or never reached the mapper', async () => {
    const refused = new FakeMapper();
    refused.hooks.set('link#1', async (items) => items.map((i) => rjct(i, ReasonCode.faInvalid, 'FA is null')));
    const a = await runSmoke(refused, { id: ID, clock: fakeClock() });
    expect(a.steps[0]!.got).toBe('outcome rejected (rjct.fa.invalid: FA is null)');
    expect(statuses(a)).toEqual({
      link: 'fail',
      resolve_linked: 'skipped',
      update: 'skipped',
      resolve_updated: 'skipped',
      unlink: 'skipped',
      resolve_unlinked: 'skipped',
    });
    expect(a).toMatchObject({ exitCode: 5, cleanup: { state: 'not_needed' } });
    expect(refused.calls).toEqual(['link']);

    const down = new FakeMapper();
    down.hooks.set('link#1', async () => {
      throw new UnavailableError('remote.refused', 'POST http://127.0.0.1:9/mapper/link: connection refused');
    });
    const b = await runSmoke(down, { id: ID, clock: fakeClock() });
    expect(b).toMatchObject({ exitCode: 4, cleanup: { state: 'not_needed' } });
    expect(down.calls).toEqual(['link']);
  });

  it('says the cleanup failed when the record is still there at the end', async () => {
    const mapper = new FakeMapper();
    mapper.hooks.set('unlink#1', async (items) => items.map(succ)); // claims success, deletes nothing
    const report = await runSmoke(mapper, { id: ID, clock: fakeClock() });
    expect(statuses(report)).toMatchObject({ unlink: 'pass', resolve_unlinked: 'fail' });
    expect(report.steps[5]!.got).toMatch(/^outcome found/);
    expect(report).toMatchObject({
      passed: false,
      exitCode: 5,
      cleanup: { state: 'failed', detail: `${ID} may still be linked: remove it with "sparctl unlink --id ${ID} --yes"` },
    });
  });

  it('fails a step whose answer has no result for the item sent', async () => {
    const mapper = new FakeMapper();
    mapper.hooks.set('update#1', async () => []);
    const report = await runSmoke(mapper, { id: ID, clock: fakeClock() });
    expect(report.steps[2]).toMatchObject({ status: 'fail', error: { code: 'smoke.no_result' } });
    expect(report).toMatchObject({ exitCode: 5, cleanup: { state: 'removed' } });
  });
});

// ---------------------------------------------------------------------------------------------
// JUnit XML, parsed back with a minimal XML reader: enough to prove well-formedness here.

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

function decode(raw: string): string {
  if (/&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);)/i.test(raw)) throw new Error(`bare & in ${JSON.stringify(raw)}`);
  return raw.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);/gi, (_, e: string) =>
    e === 'amp'
      ? '&'
      : e === 'lt'
        ? '<'
        : e === 'gt'
          ? '>'
          : e === 'quot'
            ? '"'
            : e === 'apos'
              ? "'"
              : String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : Number(e.slice(1))),
  );
}

function parseXml(xml: string): XmlElement {
  // Characters XML 1.0 forbids anywhere in a document.
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/.test(xml)) throw new Error('forbidden character');
  let at = 0;
  const prolog = /^<\?xml [^?]*\?>\s*/.exec(xml);
  if (!prolog) throw new Error('no XML declaration');
  at = prolog[0].length;
  const element = (): XmlElement => {
    const open = /^<([A-Za-z][\w.-]*)((?:\s+[A-Za-z][\w.-]*="[^"<]*")*)\s*(\/?)>/.exec(xml.slice(at));
    if (!open) throw new Error(`bad tag at ${at}: ${xml.slice(at, at + 40)}`);
    at += open[0].length;
    const attrs: Record<string, string> = {};
    for (const m of open[2]!.matchAll(/([A-Za-z][\w.-]*)="([^"]*)"/g)) {
      if (m[1]! in attrs) throw new Error(`duplicate attribute ${m[1]}`);
      attrs[m[1]!] = decode(m[2]!);
    }
    const node: XmlElement = { name: open[1]!, attrs, children: [], text: '' };
    if (open[3] === '/') return node;
    for (;;) {
      const textEnd = xml.indexOf('<', at);
      if (textEnd === -1) throw new Error(`unclosed <${node.name}>`);
      const raw = xml.slice(at, textEnd);
      if (raw.includes('>')) throw new Error('raw > in text');
      node.text += decode(raw);
      at = textEnd;
      if (xml.startsWith('</', at)) {
        const close = `</${node.name}>`;
        if (!xml.startsWith(close, at)) throw new Error(`expected ${close} at ${at}`);
        at += close.length;
        return node;
      }
      node.children.push(element());
    }
  };
  const root = element();
  if (xml.slice(at).trim() !== '') throw new Error('content after the root element');
  return root;
}

describe('smoke JUnit XML', () => {
  it('escapes markup, quotes and control characters so the document stays well-formed', () => {
    const nasty = `a<b>&c"d'e\u0001f\u0000g\th\ni\r]]>`;
    expect(decode(xmlText(nasty))).toBe(`a<b>&c"d'e\\u0001f\\u0000g\th\ni\r]]>`);
    expect(xmlAttr(nasty)).not.toMatch(/[<>"'\n\t\r\u0000\u0001]/);
    expect(decode(xmlAttr(nasty))).toBe(`a<b>&c"d'e\\u0001f\\u0000g\th\ni\r]]>`);
    expect(xmlText('lone \ud800 surrogate, pair 😀')).toBe('lone \\ud800 surrogate, pair 😀');
  });

  it('has one <testsuite name="sparctl smoke"> with a testcase per step, failures with expected vs got, skipped steps', async () => {
    const mapper = new FakeMapper();
    const nasty = `<&"'>\u0007`;
    mapper.hooks.set('resolve#1', async (items) =>
      items.map((i) => ({ ...succ(i), status_reason_code: ReasonCode.idActive, fa: { ...SMOKE_FA, bank_name: nasty } })),
    );
    const report = await runSmoke(mapper, { id: ID, clock: fakeClock() });
    const xml = smokeJunitXml({ ...report, target: `spar-v2 http://x/?a=1&b="2"` }, new Date('2025-03-04T05:06:07.890Z'));
    const root = parseXml(xml);
    expect(root.name).toBe('testsuites');
    expect(root.children.map((c) => c.name)).toEqual(['testsuite']);
    const suite = root.children[0]!;
    expect(suite.attrs).toMatchObject({
      name: 'sparctl smoke',
      tests: '6',
      failures: '1',
      errors: '0',
      skipped: '2',
      timestamp: '2025-03-04T05:06:07',
    });
    const cases = suite.children.filter((c) => c.name === 'testcase');
    expect(cases.map((c) => [c.attrs['name'], c.attrs['time'], c.children.map((k) => k.name)])).toEqual([
      ['link', '0.007', []],
      ['resolve (details)', '0.007', ['failure']],
      ['update', '0.000', ['skipped']],
      ['resolve (after update)', '0.000', ['skipped']],
      ['unlink', '0.007', []],
      ['resolve (after unlink)', '0.007', []],
    ]);
    const failure = cases[1]!.children[0]!;
    expect(failure.attrs['message']).toBe(
      `expected outcome found, FA as linked, got found, but bank_name "<&\\"'>\\u0007" (expected "sparctl smoke bank")`,
    );
    expect(failure.attrs['type']).toBe('wrong_answer');
    expect(failure.text).toContain('expected: outcome found, FA as linked\ngot: found, but bank_name');
    expect(cases[2]!.children[0]!.attrs['message']).toBe('resolve (details) did not pass');
    const properties = Object.fromEntries(
      suite.children.find((c) => c.name === 'properties')!.children.map((p) => [p.attrs['name'], p.attrs['value']]),
    );
    expect(properties).toEqual({ target: 'spar-v2 http://x/?a=1&b="2"', id: ID, cleanup: 'removed' });
    expect(suite.children.find((c) => c.name === 'system-out')!.text).toContain('cleanup: removed: the synthetic record was removed');
  });

  it('reports a thrown error as <error> with its code', async () => {
    const mapper = new FakeMapper();
    mapper.hooks.set('update#1', async () => {
      throw new UnavailableError('remote.server_error', 'update at http://spar/mapper/update answered HTTP 502', { outcomeUnknown: true });
    });
    const report = await runSmoke(mapper, { id: ID, clock: fakeClock() });
    const suite = parseXml(smokeJunitXml(report, new Date())).children[0]!;
    expect(suite.attrs).toMatchObject({ failures: '0', errors: '1', skipped: '1' });
    const update = suite.children.find((c) => c.attrs['name'] === 'update')!;
    expect(update.children[0]).toMatchObject({
      name: 'error',
      attrs: { type: 'remote.server_error', message: expect.stringContaining('answered HTTP 502') },
    });
  });
});
