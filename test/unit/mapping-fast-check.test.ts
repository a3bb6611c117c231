import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fastDfspFile, fastMappingFile } from '../../src/core/mapping-fast-check.js';
import { dfspFileSchema, mappingFileSchema } from '../../src/core/mapping.js';
import { FA_FIELDS, FA_TYPES, FA_VALUE_FIELDS, type FaType } from '../../src/core/vocabulary.js';

/**
 * The fast checks of mapping and --dfsp files (core/mapping-fast-check.ts) may only say yes
 * where the zod schema says yes, and give back the same data in the same key order: random mapping files,
 * built from values at and around every rule, compared with zod's answer. It must also carry the
 * ordinary files, or every import loads zod again: it accepts every file zod accepts but for a
 * `__proto__` key in a `values` table (zod drops it), and every mapping file the repository ships.
 */

function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const ODD: readonly unknown[] = [0, -1, 1, 1.5, 2 ** 53, null, undefined, true, [], {}, ['a'], { column: 'a' }];
/** Good values first, then values at and past the rule's edge. */
const SOURCES = { good: ['col', ' col ', 'a.b', '\tX\n'], bad: ['', ' ', '\n'] };
const TEXTS = { good: ['x', ' x ', 'N/A', 'BANK', 'link'], bad: ['', ' '] };
const TYPES = { good: FA_TYPES, bad: ['bank', ' BANK', 'EMAIL_WALLET ', '', 'CASH'] };
const OPERATIONS = { good: ['link', 'update', 'unlink', 'upsert'], bad: ['LINK', ' link', 'upsert ', '', 'delete'] };
/** Distinct ignoring case and spaces; the bad ones repeat a good one that way, or are empty. */
const VALUE_KEYS = { good: ['bank', ' gcash ', 'Email', '1', 'yes'], bad: ['BANK', ' bank', 'email ', '', ' ', '__proto__'] };
const STRATEGY_IDS = { good: [1, 2, 3, 4, 7, 2 ** 53 - 1], bad: [0, -1, 1.5, 2 ** 53, '2', Number.NaN, Number.POSITIVE_INFINITY] };
const COUNTRIES = { good: ['PH', 'ph', ' ke ', 'KE', 'IN'], bad: ['', 'XX', 'PHL', ' P H'] };
type Pool = { readonly good: readonly unknown[]; readonly bad: readonly unknown[] };

/** Random mapping files; `noise` scales how often a piece is wrong (0: never). */
function generator(next: () => number) {
  const chance = (p: number) => next() < p;
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  let noise = 1;
  const bad = (p: number) => next() < p * noise;
  const from = (pool: Pool) => (bad(0.08) ? (chance(0.6) ? pick(pool.bad) : pick(ODD)) : pick(pool.good));
  /** A key set as JSON.parse sets it: `__proto__` an own key, not the prototype. */
  const put = (object: Record<string, unknown>, key: string, value: unknown) =>
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });

  function valuesTable(results: Pool): Record<string, unknown> {
    const table: Record<string, unknown> = {};
    for (let n = Math.floor(next() * 4); n > 0; n--) put(table, from(VALUE_KEYS) as string, from(results));
    return table;
  }

  /** A field spec; `results` are what its const, default and values may give. */
  function fieldSpec(results: Pool = TEXTS): unknown {
    if (chance(0.35)) return from(SOURCES);
    if (bad(0.03)) return pick(ODD);
    const spec: Record<string, unknown> = {};
    const how = next();
    if (how < 0.4) spec['column'] = from(SOURCES);
    else if (how < 0.6) spec['path'] = from(SOURCES);
    else if (how < 0.75)
      spec['first'] = bad(0.05) ? pick(ODD) : Array.from({ length: bad(0.1) ? 0 : 1 + Math.floor(next() * 2) }, () => from(SOURCES));
    else spec['const'] = from(results);
    if (bad(0.05)) spec[pick(['column', 'path', 'first', 'const'])] = from(SOURCES);
    if (chance(0.25) && (spec['const'] === undefined || bad(0.2))) spec['default'] = from(results);
    if (chance(0.35) && (spec['const'] === undefined || bad(0.2))) spec['values'] = bad(0.04) ? pick(ODD) : valuesTable(results);
    if (bad(0.02)) spec['colum'] = 'x';
    return spec;
  }

  function idSpec(): unknown {
    if (chance(0.4)) return from(SOURCES);
    const id: Record<string, unknown> = {};
    id[chance(0.8) ? 'column' : 'path'] = from(SOURCES);
    if (bad(0.05)) id[pick(['column', 'path'])] = from(SOURCES);
    if (chance(0.5)) id['strategy'] = from(STRATEGY_IDS);
    if (bad(0.02)) id['const'] = 'x';
    return id;
  }

  /** The FA types a generated `type` can give, as the schema reckons them. */
  function kindsOf(type: unknown): readonly string[] {
    if (typeof type !== 'object' || type === null) return FA_TYPES;
    const spec = type as Record<string, unknown>;
    // Matched loosely, so that a near miss (" BANK") still comes with the fields it would need.
    const loose = (kind: unknown) => String(kind).trim().toUpperCase();
    if (spec['const'] !== undefined) return [loose(spec['const'])];
    if (typeof spec['values'] !== 'object' || spec['values'] === null) return FA_TYPES;
    return [...Object.values(spec['values']), spec['default']].map(loose).filter((kind) => FA_TYPES.includes(kind as FaType));
  }

  function faSpec(): unknown {
    if (bad(0.02)) return pick(ODD);
    const type = chance(0.4) ? { const: from(TYPES) } : fieldSpec(TYPES);
    const fa: Record<string, unknown> = { type };
    if (chance(0.5)) {
      const strategy: Record<string, unknown> = {};
      for (const kind of FA_TYPES) if (chance(0.6)) strategy[kind] = from(STRATEGY_IDS);
      if (bad(0.04)) strategy['CASH'] = 1;
      fa['strategy'] = bad(0.03) ? pick(ODD) : strategy;
    }
    // The fields the type can need are mapped (names now and then), a field it cannot use seldom.
    const kinds = kindsOf(type);
    for (const field of FA_VALUE_FIELDS) {
      const used = kinds.some((kind) => FA_FIELDS[kind as FaType]?.includes(field));
      const name = field.endsWith('_name');
      if (used ? (name ? chance(0.5) : !bad(0.05)) : bad(0.08)) fa[field] = fieldSpec();
    }
    if (bad(0.02)) delete fa['type'];
    if (bad(0.02)) fa['bank'] = 'bank';
    return fa;
  }

  function filters(): unknown {
    const one = () => {
      if (bad(0.03)) return pick(ODD);
      const filter: Record<string, unknown> = { [chance(0.8) ? 'column' : 'path']: from(SOURCES) };
      if (bad(0.05)) filter[pick(['column', 'path'])] = from(SOURCES);
      if (chance(0.5)) filter['equals'] = chance(0.2) ? pick(['', ' ', ' Yes ']) : from(TEXTS);
      else filter['in'] = bad(0.05) ? pick(ODD) : Array.from({ length: bad(0.1) ? 0 : 1 + Math.floor(next() * 2) }, () => from(TEXTS));
      if (bad(0.05)) filter[pick(['equals', 'in'])] = ['x'];
      return filter;
    };
    // One condition without its list is a list of one.
    return chance(0.3) ? one() : Array.from({ length: Math.floor(next() * 3) }, one);
  }

  return function mappingFile(): unknown {
    noise = pick([0, 0.3, 1, 2.5]);
    if (bad(0.01)) return pick(ODD);
    const file: Record<string, unknown> = {};
    // Keys in a random order: the answer's order is the schema's, not the file's.
    const parts: [string, () => unknown][] = [
      ['$comment', () => pick(['a note', '', 7, null, ['x']])],
      ['id', idSpec],
      ['name', () => fieldSpec()],
      ['phone', () => fieldSpec()],
      ['fa', faSpec],
      ['normalize', () => (bad(0.1) ? pick(ODD) : chance(0.1) ? {} : { defaultCountry: from(COUNTRIES) })],
      ['operation', () => fieldSpec(OPERATIONS)],
      ['skip', filters],
      ['where', filters],
    ];
    for (const [key, make] of parts.sort(() => next() - 0.5)) {
      const required = key === 'id' || key === 'fa';
      if (required ? !bad(0.02) : chance(key === '$comment' || key === 'name' ? 0.5 : 0.2)) file[key] = make();
    }
    if (bad(0.02)) file['fa_type'] = 'BANK';
    return file;
  };
}

/** Whether the schema accepts it, and the fast check either gives its answer or says nothing. */
function compare(
  json: unknown,
  schema: (json: unknown) => { success: boolean; data?: unknown } = (value) => mappingFileSchema().safeParse(value),
  check: (json: unknown) => unknown = fastMappingFile,
): { valid: boolean; fast: boolean } {
  const zod = schema(json);
  const quick = check(json);
  if (quick !== undefined) {
    expect(zod.success, JSON.stringify(json)).toBe(true);
    expect(JSON.stringify(quick), JSON.stringify(json)).toBe(JSON.stringify(zod.data));
    expect(quick).toEqual(zod.data);
  }
  return { valid: zod.success, fast: quick !== undefined };
}

describe('the mapping file fast check', () => {
  it('accepts a file only as zod would, gives back what zod gives, key order included, and carries the valid ones', () => {
    const mappingFile = generator(seeded(20261207));
    let valid = 0;
    let fast = 0;
    let missed = 0;
    for (let i = 0; i < 6_000; i++) {
      const file = mappingFile();
      // Both as built (shared members, `undefined`) and as JSON.parse gives it.
      compare(file);
      const text = JSON.stringify(file) ?? 'null';
      const result = compare(JSON.parse(text));
      if (result.valid) valid++;
      if (result.fast) fast++;
      if (result.valid && !result.fast && !text.includes('"__proto__"')) missed++;
    }
    // Enough valid files that acceptance is tested, not only refusal.
    expect(valid).toBeGreaterThan(600);
    expect(missed).toBe(0);
    expect(fast).toBeGreaterThan(valid * 0.95);
  });

  it('accepts a --dfsp file only as zod would, and gives back what zod gives', () => {
    const dfspZod = (json: unknown) => dfspFileSchema().safeParse(json);
    const next = seeded(11);
    const chance = (p: number) => next() < p;
    const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
    const text = () => (chance(0.9) ? pick(['LBP', ' bdo ', '0012', 'Land Bank']) : pick(['', ' ', ...ODD]));
    const walletType = () => (chance(0.9) ? pick(['MOBILE_WALLET', 'EMAIL_WALLET']) : pick(['mobile_wallet', ' EMAIL_WALLET', '', ...ODD]));
    const list = (fields: readonly string[]) => {
      if (chance(0.03)) return pick(ODD);
      return Array.from({ length: Math.floor(next() * 4) }, () => {
        if (chance(0.02)) return pick(ODD);
        const entry: Record<string, unknown> = {};
        // Shuffled, some left out, and now and then more than the schema keeps (a SPAR export's).
        for (const field of [...fields].sort(() => next() - 0.5))
          if (!chance(0.03)) entry[field] = field === 'wallet_type' ? walletType() : text();
        if (chance(0.2)) entry[pick(['mnemonic', 'active', 'id'])] = pick(['x', true, 7]);
        return entry;
      });
    };
    let valid = 0;
    let fast = 0;
    for (let i = 0; i < 3_000; i++) {
      const file: Record<string, unknown> = {};
      if (chance(0.8)) file['wallet_providers'] = list(['code', 'name', 'wallet_type']);
      if (chance(0.8)) file['branches'] = list(['bank_code', 'code', 'name']);
      if (chance(0.8)) file['banks'] = list(['code', 'name']);
      if (chance(0.02)) file['bank'] = [];
      compare(file, dfspZod, fastDfspFile);
      const result = compare(JSON.parse(JSON.stringify(file)), dfspZod, fastDfspFile);
      if (result.valid) valid++;
      if (result.fast) fast++;
    }
    expect(valid).toBeGreaterThan(300);
    expect(fast).toBe(valid);
    for (const name of ['dfsp.json', 'odk-dfsp.json']) {
      const json = JSON.parse(readFileSync(new URL(`../../fixtures/${name}`, import.meta.url), 'utf8'));
      expect(compare(json, dfspZod, fastDfspFile), name).toEqual({ valid: true, fast: true });
    }
  });

  const shipped: [string, unknown][] = [
    ...readdirSync(new URL('../../fixtures/', import.meta.url))
      .filter((name) => name.endsWith('mapping.json'))
      .map((name): [string, unknown] => [name, JSON.parse(readFileSync(new URL(`../../fixtures/${name}`, import.meta.url), 'utf8'))]),
    ...[...readFileSync(new URL('../../README.md', import.meta.url), 'utf8').matchAll(/```json\n(\{\n {2}"id"[^`]*)```/g)].map(
      (match, at): [string, unknown] => [`README example ${at + 1}`, JSON.parse(match[1]!)],
    ),
    [
      "bench/remote.mjs's mapping",
      {
        id: 'id',
        name: 'name',
        fa: {
          type: { const: 'BANK' },
          strategy: { BANK: 2 },
          bank_name: 'bank_name',
          bank_code: 'bank_code',
          branch_name: 'branch_name',
          branch_code: 'branch_code',
          account_number: 'account_number',
        },
      },
    ],
    [
      "README's row filters, one condition without its list",
      {
        id: 'id',
        fa: { type: { const: 'EMAIL_WALLET' }, wallet_provider_code: { first: ['a', 'b'] }, email_address: { path: 'p.email' } },
        operation: { column: 'op', values: { L: 'link', ' u ': 'update' }, default: 'upsert' },
        skip: [{ column: 'ReviewState', in: ['rejected', 'hasIssues'] }],
        where: { column: 'payment-payment_consent', equals: 'yes' },
      },
    ],
  ];

  it.each(shipped)('takes %s', (_name, json) => {
    expect(shipped.length).toBeGreaterThanOrEqual(5);
    expect(compare(json)).toEqual({ valid: true, fast: true });
  });
});
