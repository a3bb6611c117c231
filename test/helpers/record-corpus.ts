/**
 * A large, varied, reproducible set of input records for link/update — valid rows of every FA
 * kind in flat and nested form, and rows broken in every way a file can break them — to check
 * that the fast validation path of records.ts agrees with zod on all of them.
 */

type Row = Record<string, unknown>;

/** Small seeded PRNG (mulberry32), so a failure names a record that can be made again. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const digits = (n: number, i: number) => String(i).padStart(n, '0').slice(-n);

export function validBank(i: number): Row {
  return {
    id: `token:${digits(12, 400000000000 + i)}@nationalId`,
    fa_type: 'BANK',
    strategy_id: 2,
    bank_code: 'LBP',
    bank_name: 'Land Bank',
    branch_code: '0012',
    branch_name: 'Main',
    account_number: digits(12, i),
    name: `Person ${i} Dela Cruz`,
    phone_number: `+63917${digits(7, 1230000 + i)}`,
  };
}

export function validMobile(i: number): Row {
  return {
    id: digits(10, i),
    fa_type: 'MOBILE_WALLET',
    strategy_id: 4,
    wallet_provider_name: 'GCash',
    wallet_provider_code: 'GCASH',
    mobile_number: `+63917${digits(7, i)}`,
    name: `Person ${i} Santos`,
    phone_number: `+63 917 ${digits(3, i)} ${digits(4, i)}`,
  };
}

export function validEmail(i: number): Row {
  return {
    id: `HH-${i}`,
    fa_type: 'EMAIL_WALLET',
    strategy_id: 3,
    wallet_provider_name: 'PayPal',
    wallet_provider_code: 'PAYPAL',
    email_address: `Person.${i}@Example.org`,
    name: `Person ${i} Reyes`,
    phone_number: `+63 2 8${digits(3, i)}-${digits(4, i)}`,
  };
}

const FA_KEYS = [
  'strategy_id',
  'fa_type',
  'bank_name',
  'bank_code',
  'branch_name',
  'branch_code',
  'account_number',
  'wallet_provider_name',
  'wallet_provider_code',
  'mobile_number',
  'email_address',
];

/** The same row with its FA as a nested `fa` object, as JSONL or `--fa` give it. */
export function nested(row: Row): Row {
  const out: Row = {};
  const fa: Row = {};
  for (const [key, value] of Object.entries(row)) (FA_KEYS.includes(key) ? fa : out)[key] = value;
  out['fa'] = fa;
  return out;
}

/** The same row as a CSV gives it: every value text, with empty cells for the other kinds' columns. */
export function csvLike(row: Row): Row {
  const out: Row = {};
  for (const key of ['id', ...FA_KEYS, 'name', 'phone_number']) out[key] = row[key] === undefined ? '' : String(row[key]);
  return out;
}

const CONTROL = ['\u0000', '\t', '\n', '\r', '\u000b', '\u001f', '\u007f', '\u0085', '\u009f', '\u2028', '\u2029'];
// Not control characters, but unusual: zod takes them, and the fast path may take them or not.
const UNUSUAL = ['\u00a0', '\u200b', '\ufeff', 'é', '💸', '\ud800', ' ', '  '];

const WRONG_TYPES: unknown[] = [0, 1, -1, 12, 1.5, NaN, Infinity, -0, true, false, null, {}, { a: 1 }, [], ['x'], [1, 2]];

const STRATEGY_IDS: unknown[] = [
  0,
  -1,
  1,
  1.5,
  2,
  3,
  4,
  5,
  9,
  2147483647,
  2147483648,
  1e21,
  NaN,
  Infinity,
  -0,
  '12',
  '2',
  '0',
  '-1',
  '1.5',
  '0012',
  ' 2 ',
  '999999999',
  '1000000000',
  '',
  '  ',
  'two',
  null,
  true,
  [2],
  { id: 2 },
];

const MOBILES: unknown[] = [
  '+63917',
  '12345',
  '123456',
  '+123456',
  '1234567890123',
  '123456789012345',
  '+123456789012345',
  '1234567890123456',
  '++123456',
  '0917 123 4567',
  '+63-917-1234567',
  '٠١٢٣٤٥٦٧',
  '+63917123456a',
  '+',
  '',
  '63917123456\n',
  639171234567,
];

const EMAILS: unknown[] = [
  'a@b.c',
  'a@b',
  '@b.c',
  'a@.c',
  'a b@c.d',
  'a@@b.c',
  'a@b.c.',
  'A@B.ORG',
  'a@b\u00a0c.d',
  'a@b\u2028.c',
  'a\t@b.c',
  'ä@ü.de',
  'a@b..c',
  'a.b.c',
  '',
  42,
];

const PHONES: unknown[] = [
  'call me',
  '+63 (917) 555-0108',
  '++63',
  '63+',
  '(02) 8123-4567',
  '+',
  '0',
  '１２３',
  '+63\u00a0917',
  639171234567,
];

const FA_TEXT_FIELDS = [
  'bank_name',
  'bank_code',
  'branch_name',
  'branch_code',
  'account_number',
  'wallet_provider_name',
  'wallet_provider_code',
  'mobile_number',
  'email_address',
];
const UNKNOWN_KEYS = ['acount_number', 'Id', 'ID', 'operation', 'constructor', 'toString', 'hasOwnProperty', 'iban', 'fa.bank_name', ''];

/** A string of exactly `length` characters that every field's own pattern accepts. */
function ofLength(field: string, length: number): string {
  if (field === 'phone_number') return '1'.repeat(length);
  if (field === 'email_address') return `${'a'.repeat(Math.max(1, length - 4))}@b.c`;
  if (field === 'mobile_number') return '9'.repeat(length);
  return 'x'.repeat(length);
}

const LENGTHS: Record<string, number[]> = {
  id: [1, 511, 512, 513, 600],
  name: [254, 255, 256, 1000],
  phone_number: [31, 32, 33],
  mobile_number: [5, 6, 15, 16],
  bank_name: [1, 255, 4096],
  account_number: [512, 513, 20000],
};

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

/** One way of breaking (or merely varying) a row. */
function mutate(row: Row, rand: () => number): Row {
  const out: Row = { ...row };
  const fields = Object.keys(out);
  const field = pick(rand, fields);
  switch (Math.floor(rand() * 14)) {
    case 0:
      delete out[field];
      break;
    case 1:
      out[field] = pick(rand, ['', '   ', null, undefined]);
      break;
    case 2: {
      const text = typeof out[field] === 'string' ? (out[field] as string) : 'abc';
      const at = Math.floor(rand() * (text.length + 1));
      out[field] = text.slice(0, at) + pick(rand, CONTROL) + text.slice(at);
      break;
    }
    case 3: {
      const text = typeof out[field] === 'string' ? (out[field] as string) : 'abc';
      const at = Math.floor(rand() * (text.length + 1));
      out[field] = text.slice(0, at) + pick(rand, UNUSUAL) + text.slice(at);
      break;
    }
    case 4: {
      const target = pick(rand, Object.keys(LENGTHS));
      out[target] = ofLength(target, pick(rand, LENGTHS[target]!));
      break;
    }
    case 5:
      out['strategy_id'] = pick(rand, STRATEGY_IDS);
      break;
    case 6:
      out['mobile_number'] = pick(rand, MOBILES);
      break;
    case 7:
      out['email_address'] = pick(rand, EMAILS);
      break;
    case 8:
      out['phone_number'] = pick(rand, PHONES);
      break;
    case 9:
      out[pick(rand, UNKNOWN_KEYS)] = 'x';
      break;
    case 10:
      out[field] = pick(rand, WRONG_TYPES);
      break;
    case 11:
      // A filled field of another kind, or of this one when it was left out.
      out[pick(rand, FA_TEXT_FIELDS)] = pick(rand, ['x', '+639171234567', 'a@b.co', '']);
      break;
    case 12:
      out['fa_type'] = pick(rand, [
        'bank',
        'BANK ',
        ' MOBILE_WALLET',
        'CASH',
        '',
        5,
        null,
        ['BANK'],
        'EMAIL_WALLET',
        'BANK',
        'MOBILE_WALLET',
      ]);
      break;
    default:
      out[field] = typeof out[field] === 'string' ? `  ${out[field] as string}\t` : out[field];
  }
  return out;
}

/** Variations of the nested `fa` object only. */
function mutateNested(row: Row, rand: () => number): Row {
  const out: Row = { ...row };
  const fa = out['fa'];
  switch (Math.floor(rand() * 6)) {
    case 0:
      out['fa'] = pick(rand, ['{"fa_type":"BANK"}', 5, [], [fa], null, '', true]);
      break;
    case 1:
      out['fa'] = { ...(fa as Row), [pick(rand, [...UNKNOWN_KEYS, 'name', 'additional_info', 'id'])]: 'x' };
      break;
    case 2:
      // Beside the nested FA, a flat FA field: refused.
      out[pick(rand, FA_TEXT_FIELDS)] = pick(rand, ['x', '', '  ']);
      break;
    case 3:
      out['fa'] = JSON.parse(`{"__proto__": {"x": 1}, ${JSON.stringify(fa).slice(1)}`);
      break;
    case 4: {
      const copy = { ...(fa as Row) };
      delete copy['fa_type'];
      out['fa'] = copy;
      break;
    }
    default:
      out['fa'] = mutate(fa as Row, rand);
  }
  return out;
}

const ADDITIONAL_INFO: unknown[] = ['[{"a":1}]', '[]', 'not json', '{"a":1}', '[1]', 'null', [{ a: 1 }], [{}], [1], { a: 1 }, 5];

export interface CorpusEntry {
  readonly label: string;
  readonly record: Row;
  /** The row is a plain valid one that the fast path is expected to take. */
  readonly plain: boolean;
}

/** `count` records, about a quarter of them plain valid rows, the rest varied or broken. */
export function corpus(count: number, seed = 1): CorpusEntry[] {
  const rand = random(seed);
  const makers = [validBank, validMobile, validEmail];
  const out: CorpusEntry[] = [];
  for (let i = 0; i < count; i++) {
    const base = makers[i % 3]!(i);
    const form = Math.floor(rand() * 8);
    if (form === 0) {
      out.push({ label: `plain flat #${i}`, record: base, plain: true });
    } else if (form === 1) {
      out.push({ label: `plain csv #${i}`, record: csvLike(base), plain: true });
    } else if (form === 2) {
      out.push({ label: `plain nested #${i}`, record: nested(base), plain: true });
    } else if (form === 3) {
      let row = mutate(base, rand);
      if (rand() < 0.4) row = mutate(row, rand);
      out.push({ label: `mutated nested #${i}`, record: nested(row), plain: false });
    } else if (form === 4) {
      out.push({ label: `nested variant #${i}`, record: mutateNested(nested(base), rand), plain: false });
    } else if (form === 5) {
      const row = rand() < 0.5 ? csvLike(base) : { ...base };
      if (rand() < 0.5) delete row['fa_type'];
      if (rand() < 0.5) delete row['strategy_id'];
      row['additional_info'] = pick(rand, ADDITIONAL_INFO);
      out.push({ label: `inferred/additional_info #${i}`, record: rand() < 0.5 ? mutate(row, rand) : row, plain: false });
    } else {
      let row = rand() < 0.3 ? csvLike(base) : base;
      row = mutate(row, rand);
      if (rand() < 0.3) row = mutate(row, rand);
      out.push({ label: `mutated flat #${i}`, record: row, plain: false });
    }
  }
  return out;
}
