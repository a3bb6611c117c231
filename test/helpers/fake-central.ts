/**
 * A fake ODK Central for tests: a real HTTP server on 127.0.0.1 that answers the parts of
 * Central's API an importer uses, the way research/odk.md (§1–§6, §12) and the authored examples
 * in reference/odk/examples/ describe them:
 *
 * - Web User sessions (`POST /v1/sessions`, bearer tokens with a real-clock lifetime), 401.2 for
 *   missing / unknown / expired / revoked tokens, 401.3 for Basic auth over plain HTTP, an App User
 *   token that authenticates but may not read data (403.1);
 * - the form (`GET …/forms/{f}`), its fields (`…/fields?odata=true`), the OData service document;
 * - the OData feed `…/forms/{f}.svc/Submissions` with `$top`, `$skip`, `$skiptoken`, `$count`,
 *   `$filter` (a real expression grammar limited to `__id` and `__system/*` fields, SQL-style
 *   three-valued logic), `$orderby`, `$select`, `$expand`; newest submissionDate first;
 *   `@odata.nextLink` on the server's configured domain (not the address the client used);
 *   deleted rows hidden unless the filter names `__system/deletedAt`; a weak ETag;
 * - one submission `…/Submissions('{iid}')`;
 * - Central's problem bodies `{message, code, details?}` with a numeric code, status = floor(code);
 * - injected 429 / 5xx bursts, before routing.
 *
 * Submission stamps use a fake clock (each mutation advances it by 1 ms; `advance()` moves it
 * further); session expiry uses the real clock.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './loopback.js';

// ---------------------------------------------------------------------------------------------
// Public types

export interface FakeSubmissionSystem {
  submissionDate: string;
  updatedAt: string | null;
  deletedAt: string | null;
  /** A string in OData (a number in the REST API). */
  submitterId: string;
  submitterName: string;
  attachmentsPresent: number;
  attachmentsExpected: number;
  status: string | null;
  reviewState: string | null;
  deviceId: string | null;
  edits: number;
  formVersion: string;
}

/** One OData row of the root table, in the shape of examples/odata-submissions-page1.json. */
export interface FakeSubmission {
  __id: string;
  __system: FakeSubmissionSystem;
  beneficiary: Record<string, unknown>;
  payment: Record<string, unknown>;
  meta: { instanceID: string; instanceName: string | null };
  /** Other form fields: start, end, deviceid, location, … */
  [field: string]: unknown;
}

export interface FakeField {
  name: string;
  path: string;
  type: string;
  binary?: null | boolean;
}

export interface FakeRequest {
  method: string;
  /** The path as received (still percent-encoded), without the query. */
  path: string;
  query: Record<string, string>;
  auth: 'bearer' | 'none' | 'other';
  status: number;
}

export type FakeFaultStatus = 429 | 500 | 502 | 503 | 504;

export interface FakeCentral {
  /** http://127.0.0.1:PORT: what the client is configured with. */
  readonly url: string;
  /** The server's configured domain, used in @odata.nextLink and @odata.context. */
  readonly domain: string;
  /** Every request, faulted ones included, in arrival order (never bodies or tokens). */
  readonly requests: FakeRequest[];
  /** Successful POST /v1/sessions so far. */
  logins: number;
  /** Adds a new submission (fresh __id and instanceID), stamped with the fake clock; returns a copy of it. */
  submit(
    data: { beneficiary: Record<string, unknown>; payment: Record<string, unknown> },
    options?: { submitterName?: string; reviewState?: string | null },
  ): FakeSubmission;
  /** An edit: same __id, new meta.instanceID, edits+1, reviewState 'edited', updatedAt = now; data merged per group. */
  edit(id: string, data: Partial<{ beneficiary: Record<string, unknown>; payment: Record<string, unknown> }>): FakeSubmission;
  /** Sets reviewState and updatedAt = now. */
  review(id: string, state: 'approved' | 'hasIssues' | 'rejected'): void;
  /** Soft delete: deletedAt = now (updatedAt untouched). */
  remove(id: string): void;
  /** Undoes a soft delete: deletedAt = null (updatedAt untouched, as in Central). */
  restore(id: string): void;
  /** A copy of a stored submission (deleted ones included; the decrypted data even for an encrypted form). */
  get(id: string): FakeSubmission | undefined;
  /** The next `count` requests (any path except POST /v1/sessions unless includeLogin) answer this instead. */
  inject(fault: { status: FakeFaultStatus; count: number; retryAfterSeconds?: number; includeLogin?: boolean }): void;
  /** Moves the fake clock forward. */
  advance(ms: number): void;
  /** The fake clock, as an ISO string. */
  now(): string;
  /** Revokes every token, the App User's included: the next request with one gets 401.2. */
  expireTokens(): void;
  close(): Promise<void>;
}

export interface FakeCentralOptions {
  email: string;
  password: string;
  projectId: number;
  formId: string;
  /** Default 24 h (real clock). */
  sessionLifetimeMs?: number;
  /** Default: the fields of examples/spar_enrolment.xform.xml. */
  fields?: FakeField[];
  /** The form has a keyId: OData rows carry only __id and __system (status notDecrypted). */
  encrypted?: boolean;
  /** Default true; false → publishedAt null, and the OData feed and fields answer 404.1. */
  published?: boolean;
  /** A valid token that may not read data (an App User's): 403.1 on OData. */
  appUserToken?: string;
  /** Default http://central.invalid:8989. */
  domain?: string;
  /** Where the fake clock starts; default 2026-03-14T06:00:00.000Z. */
  clockStart?: string;
}

// ---------------------------------------------------------------------------------------------
// Constants

const FORM_NAME = 'SPAR beneficiary enrolment';
const FORM_VERSION = '2026031401';
const DEFAULT_SUBMITTER = 'enum-kisumu-07';
const DAY_MS = 24 * 60 * 60 * 1000;

/** /fields?odata=true of examples/spar_enrolment.xform.xml, depth-first in instance order. */
export const SPAR_ENROLMENT_FIELDS: readonly FakeField[] = [
  { name: 'start', path: '/start', type: 'dateTime', binary: null },
  { name: 'end', path: '/end', type: 'dateTime', binary: null },
  { name: 'deviceid', path: '/deviceid', type: 'string', binary: null },
  { name: 'beneficiary', path: '/beneficiary', type: 'structure', binary: null },
  { name: 'national_id', path: '/beneficiary/national_id', type: 'string', binary: null },
  { name: 'full_name', path: '/beneficiary/full_name', type: 'string', binary: null },
  { name: 'gender', path: '/beneficiary/gender', type: 'string', binary: null },
  { name: 'birthdate', path: '/beneficiary/birthdate', type: 'date', binary: null },
  { name: 'contact_phone', path: '/beneficiary/contact_phone', type: 'string', binary: null },
  { name: 'payment', path: '/payment', type: 'structure', binary: null },
  { name: 'payment_method', path: '/payment/payment_method', type: 'string', binary: null },
  { name: 'bank_code', path: '/payment/bank_code', type: 'string', binary: null },
  { name: 'branch_code', path: '/payment/branch_code', type: 'string', binary: null },
  { name: 'account_number', path: '/payment/account_number', type: 'string', binary: null },
  { name: 'account_holder_name', path: '/payment/account_holder_name', type: 'string', binary: null },
  { name: 'mobile_money_provider', path: '/payment/mobile_money_provider', type: 'string', binary: null },
  { name: 'mobile_money_number', path: '/payment/mobile_money_number', type: 'string', binary: null },
  { name: 'email_wallet_provider', path: '/payment/email_wallet_provider', type: 'string', binary: null },
  { name: 'email_wallet_address', path: '/payment/email_wallet_address', type: 'string', binary: null },
  { name: 'payment_consent', path: '/payment/payment_consent', type: 'string', binary: null },
  { name: 'location', path: '/location', type: 'geopoint', binary: null },
  { name: 'household_member', path: '/household_member', type: 'repeat', binary: null },
  { name: 'member_name', path: '/household_member/member_name', type: 'string', binary: null },
  { name: 'relationship', path: '/household_member/relationship', type: 'string', binary: null },
  { name: 'meta', path: '/meta', type: 'structure', binary: null },
  { name: 'instanceID', path: '/meta/instanceID', type: 'string', binary: null },
  { name: 'instanceName', path: '/meta/instanceName', type: 'string', binary: null },
];

/** The only fields Central's OData $filter / $orderby accept on the root table. */
const FILTERABLE = new Set([
  '__id',
  '__system/submissionDate',
  '__system/updatedAt',
  '__system/submitterId',
  '__system/reviewState',
  '__system/deletedAt',
]);
const DATETIME_FIELDS = new Set(['__system/submissionDate', '__system/updatedAt', '__system/deletedAt']);

// ---------------------------------------------------------------------------------------------
// Problems (lib/util/problem.js codes and texts, as quoted in examples/error-responses.json)

interface Problem {
  readonly code: number;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

const problem = (code: number, message: string, details?: Record<string, unknown>): Problem =>
  details === undefined ? { code, message } : { code, message, details };

const P = {
  authFailed: () => problem(401.2, 'Could not authenticate with the provided credentials.'),
  httpsOnly: () => problem(401.3, 'This authentication method is only available over HTTPS'),
  forbidden: () => problem(403.1, 'The authentication you provided does not have rights to perform that action.'),
  notFound: () => problem(404.1, 'Could not find the resource you were looking for.'),
  noVersion: () => problem(404.2, 'Expected an API version (eg /v1) at the start of the request URL.'),
  notJson: (length: number) =>
    problem(400.1, `Could not parse the given data (${length} chars) as json.`, { format: 'json', rawLength: length }),
  missingParameters: (got: Record<string, unknown>) =>
    problem(
      400.3,
      `Required parameters missing. Expected (email, password), got (email: ${JSON.stringify(got['email'] ?? null)}, password: ${got['password'] === undefined ? 'null' : '[redacted]'}).`,
      {
        expected: ['email', 'password'],
      },
    ),
  badInteger: (field: string) =>
    problem(400.11, `Invalid input data type: expected (${field}) to be (integer)`, { field, expected: 'integer' }),
  unparseableFilter: (reason: string) =>
    problem(400.18, `The OData filter expression you provided could not be parsed: ${reason}`, { reason }),
  badSkiptoken: () => problem(400.35, 'Invalid $skiptoken'),
  notAcceptable: () =>
    problem(406.1, 'Requested format not acceptable; this resource allows: (application/json, json).', {
      allowed: ['application/json', 'json'],
    }),
  orderbyWithSkiptoken: () =>
    problem(501.1, 'The requested feature using $orderby and $skiptoken together is not supported by this server.', {
      feature: 'using $orderby and $skiptoken together',
    }),
  unsupportedFeature: (type: string, at: number, text: string) =>
    problem(
      501.4,
      `The given OData filter expression uses features not supported by this server: ${type} at ${at} (${JSON.stringify(text)})`,
      { at, type, text },
    ),
  unsupportedField: (text: string, at: number) =>
    problem(501.5, `The given OData filter expression references fields not supported by this server: ${text} at ${at}`, { at, text }),
  unsupportedExpand: (text: string) =>
    problem(
      501.6,
      `The given OData expand expression is not supported by this server: ${JSON.stringify(text)}. Currently, only "$expand=*" is supported.`,
      { text },
    ),
  selectWithExpand: () => problem(501.11, "This server doesn't support $select query parameter with $expand."),
};

class ProblemError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.message);
  }
}

// ---------------------------------------------------------------------------------------------
// $filter: tokenizer, parser, checks, evaluation

type Literal =
  | { kind: 'null'; at: number }
  | { kind: 'string'; value: string; at: number }
  | { kind: 'number'; value: number; at: number }
  | { kind: 'boolean'; value: boolean; at: number }
  | { kind: 'datetime'; value: number; at: number };

type Operand = Literal | { kind: 'field'; name: string; at: number } | { kind: 'call'; name: string; at: number; text: string };

type Comparison = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';

type FilterNode =
  | { kind: 'or' | 'and'; left: FilterNode; right: FilterNode }
  | { kind: 'not'; operand: FilterNode }
  | { kind: 'cmp'; op: Comparison; left: Operand; right: Operand }
  /** A function used as a boolean (contains(…), startswith(…)…): always refused as a feature. */
  | { kind: 'call'; call: Operand };

type Token =
  | { kind: 'word'; text: string; at: number } // identifiers, keywords, member paths
  | { kind: 'punct'; text: '(' | ')' | ','; at: number }
  | { kind: 'string'; value: string; at: number }
  | { kind: 'number'; value: number; text: string; at: number }
  | { kind: 'datetime'; value: number; text: string; at: number }
  | { kind: 'end'; at: number };

const COMPARISONS = new Set<string>(['eq', 'ne', 'gt', 'ge', 'lt', 'le']);
const DATETIME_RE = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,12})?)?(?:Z|[+-]\d{2}:\d{2})/y;
const DATE_RE = /\d{4}-\d{2}-\d{2}/y;
const NUMBER_RE = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const WORD_RE = /[A-Za-z_$][A-Za-z0-9_]*(?:\/[A-Za-z_$][A-Za-z0-9_]*)*/y;

function sticky(re: RegExp, text: string, at: number): string | undefined {
  re.lastIndex = at;
  return re.exec(text)?.[0];
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: 'punct', text: c, at: i });
      i++;
      continue;
    }
    if (c === "'") {
      let value = '';
      let j = i + 1;
      for (;;) {
        if (j >= text.length) throw new ProblemError(P.unparseableFilter(`unterminated string literal at ${i}`));
        if (text[j] === "'") {
          if (text[j + 1] === "'") {
            value += "'";
            j += 2;
            continue;
          }
          break;
        }
        value += text[j];
        j++;
      }
      tokens.push({ kind: 'string', value, at: i });
      i = j + 1;
      continue;
    }
    const datetime = sticky(DATETIME_RE, text, i);
    if (datetime !== undefined) {
      const value = Date.parse(datetime);
      if (Number.isNaN(value)) throw new ProblemError(P.unparseableFilter(`invalid date/time ${datetime} at ${i}`));
      tokens.push({ kind: 'datetime', value, text: datetime, at: i });
      i += datetime.length;
      continue;
    }
    const date = sticky(DATE_RE, text, i);
    if (date !== undefined && !/[0-9T]/.test(text[i + date.length] ?? '')) {
      const value = Date.parse(`${date}T00:00:00.000Z`);
      if (Number.isNaN(value)) throw new ProblemError(P.unparseableFilter(`invalid date ${date} at ${i}`));
      tokens.push({ kind: 'datetime', value, text: date, at: i });
      i += date.length;
      continue;
    }
    const number = sticky(NUMBER_RE, text, i);
    if (number !== undefined) {
      tokens.push({ kind: 'number', value: Number(number), text: number, at: i });
      i += number.length;
      continue;
    }
    const word = sticky(WORD_RE, text, i);
    if (word !== undefined) {
      tokens.push({ kind: 'word', text: word, at: i });
      i += word.length;
      continue;
    }
    throw new ProblemError(P.unparseableFilter(`unexpected character ${JSON.stringify(c)} at ${i}`));
  }
  tokens.push({ kind: 'end', at: text.length });
  return tokens;
}

class FilterParser {
  private index = 0;

  constructor(
    private readonly text: string,
    private readonly tokens: Token[],
  ) {}

  static parse(text: string): FilterNode {
    const parser = new FilterParser(text, tokenize(text));
    const node = parser.orExpr();
    const rest = parser.peek();
    if (rest.kind !== 'end') throw parser.fail(rest, 'unexpected input');
    return node;
  }

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.index + offset, this.tokens.length - 1)]!;
  }

  private next(): Token {
    const token = this.peek();
    if (this.index < this.tokens.length - 1) this.index++;
    return token;
  }

  private fail(token: Token, what: string): ProblemError {
    const shown = token.kind === 'end' ? 'end of input' : JSON.stringify(this.text.slice(token.at, token.at + 20));
    return new ProblemError(P.unparseableFilter(`${what}: ${shown} at ${token.at}`));
  }

  private isWord(token: Token, word: string): boolean {
    return token.kind === 'word' && token.text === word;
  }

  private orExpr(): FilterNode {
    let left = this.andExpr();
    while (this.isWord(this.peek(), 'or')) {
      this.next();
      left = { kind: 'or', left, right: this.andExpr() };
    }
    return left;
  }

  private andExpr(): FilterNode {
    let left = this.unary();
    while (this.isWord(this.peek(), 'and')) {
      this.next();
      left = { kind: 'and', left, right: this.unary() };
    }
    return left;
  }

  private unary(): FilterNode {
    if (this.isWord(this.peek(), 'not')) {
      this.next();
      return { kind: 'not', operand: this.unary() };
    }
    const token = this.peek();
    if (token.kind === 'punct' && token.text === '(') {
      this.next();
      const inner = this.orExpr();
      const close = this.next();
      if (!(close.kind === 'punct' && close.text === ')')) throw this.fail(close, 'expected ")"');
      return inner;
    }
    const left = this.operand();
    if (left.kind === 'call' && !(this.peek().kind === 'word' && COMPARISONS.has((this.peek() as { text: string }).text)))
      return { kind: 'call', call: left };
    const op = this.next();
    if (op.kind !== 'word' || !COMPARISONS.has(op.text)) throw this.fail(op, 'expected a comparison operator (eq ne gt ge lt le)');
    const right = this.operand();
    return { kind: 'cmp', op: op.text as Comparison, left, right };
  }

  private operand(): Operand {
    const token = this.next();
    switch (token.kind) {
      case 'string':
        return { kind: 'string', value: token.value, at: token.at };
      case 'number':
        return { kind: 'number', value: token.value, at: token.at };
      case 'datetime':
        return { kind: 'datetime', value: token.value, at: token.at };
      case 'word': {
        if (token.text === 'null') return { kind: 'null', at: token.at };
        if (token.text === 'true' || token.text === 'false') return { kind: 'boolean', value: token.text === 'true', at: token.at };
        if (['and', 'or', 'not', ...COMPARISONS].includes(token.text)) throw this.fail(token, 'expected a field or a value');
        const open = this.peek();
        if (open.kind === 'punct' && open.text === '(') {
          // A function call (now(), year(…), contains(…)…): parsed, then refused as a feature.
          this.next();
          const close = this.peek();
          if (!(close.kind === 'punct' && close.text === ')')) {
            for (;;) {
              this.operand();
              const separator = this.next();
              if (separator.kind === 'punct' && separator.text === ')') break;
              if (!(separator.kind === 'punct' && separator.text === ',')) throw this.fail(separator, 'expected "," or ")"');
            }
          } else {
            this.next();
          }
          const end = this.tokens[this.index - 1]!.at + 1;
          return { kind: 'call', name: token.text, at: token.at, text: this.text.slice(token.at, end) };
        }
        return { kind: 'field', name: token.text, at: token.at };
      }
      default:
        throw this.fail(token, 'expected a field or a value');
    }
  }
}

/** Refuses what Central refuses after parsing: functions (501.4) and non-filterable fields (501.5), first one first. */
function checkFilter(node: FilterNode): void {
  const operand = (o: Operand): void => {
    if (o.kind === 'call') throw new ProblemError(P.unsupportedFeature('MethodCallExpression', o.at, o.text));
    if (o.kind === 'field' && !FILTERABLE.has(rootField(o.name))) throw new ProblemError(P.unsupportedField(o.name, o.at));
  };
  switch (node.kind) {
    case 'or':
    case 'and':
      checkFilter(node.left);
      checkFilter(node.right);
      return;
    case 'not':
      checkFilter(node.operand);
      return;
    case 'cmp':
      operand(node.left);
      operand(node.right);
      return;
    case 'call':
      operand(node.call);
  }
}

function rootField(name: string): string {
  return name.startsWith('$root/Submissions/') ? name.slice('$root/Submissions/'.length) : name;
}

function mentionsField(node: FilterNode, field: string): boolean {
  switch (node.kind) {
    case 'or':
    case 'and':
      return mentionsField(node.left, field) || mentionsField(node.right, field);
    case 'not':
      return mentionsField(node.operand, field);
    case 'cmp':
      return [node.left, node.right].some((o) => o.kind === 'field' && rootField(o.name) === field);
    case 'call':
      return false;
  }
}

function fieldValue(row: FakeSubmission, name: string): unknown {
  const field = rootField(name);
  if (field === '__id') return row.__id;
  const system = row.__system as unknown as Record<string, unknown>;
  return system[field.slice('__system/'.length)] ?? null;
}

/** SQL-style three-valued logic: null = unknown, and only `true` selects a row. */
type Truth = boolean | null;

function evaluate(node: FilterNode, row: FakeSubmission): Truth {
  switch (node.kind) {
    case 'or': {
      const a = evaluate(node.left, row);
      const b = evaluate(node.right, row);
      if (a === true || b === true) return true;
      return a === false && b === false ? false : null;
    }
    case 'and': {
      const a = evaluate(node.left, row);
      const b = evaluate(node.right, row);
      if (a === false || b === false) return false;
      return a === true && b === true ? true : null;
    }
    case 'not': {
      const a = evaluate(node.operand, row);
      return a === null ? null : !a;
    }
    case 'cmp':
      return compare(node.op, node.left, node.right, row);
    case 'call':
      return null;
  }
}

type Kind = 'datetime' | 'number' | 'string' | 'boolean' | 'null';

function operandValue(o: Operand, row: FakeSubmission): { kind: Kind; value: unknown } {
  switch (o.kind) {
    case 'null':
      return { kind: 'null', value: null };
    case 'string':
    case 'number':
    case 'boolean':
    case 'datetime':
      return { kind: o.kind, value: o.value };
    case 'field': {
      const field = rootField(o.name);
      const value = fieldValue(row, field);
      if (value === null) return { kind: 'null', value: null };
      if (DATETIME_FIELDS.has(field)) return { kind: 'datetime', value: Date.parse(String(value)) };
      // submitterId is an integer column in Central (a string only in the OData output).
      if (field === '__system/submitterId') return { kind: 'number', value: Number(value) };
      return { kind: 'string', value: String(value) };
    }
    case 'call':
      throw new Error('unreachable: calls are refused before evaluation');
  }
}

function coerce(value: unknown, from: Kind, to: Kind): unknown {
  if (from === to) return value;
  if (to === 'datetime' && from === 'string') return Date.parse(String(value));
  if (to === 'number' && from === 'string') return Number(value);
  return undefined;
}

function compare(op: Comparison, left: Operand, right: Operand, row: FakeSubmission): Truth {
  const a = operandValue(left, row);
  const b = operandValue(right, row);
  // `x eq null` / `x ne null` are IS NULL / IS NOT NULL; any other comparison with NULL is unknown.
  if (left.kind === 'null' || right.kind === 'null') {
    const other = left.kind === 'null' ? b : a;
    if (op === 'eq') return other.kind === 'null';
    if (op === 'ne') return other.kind !== 'null';
    return null;
  }
  if (a.kind === 'null' || b.kind === 'null') return null;
  // The column's type wins (as Postgres casts the literal to it).
  const kind: Kind = left.kind === 'field' ? a.kind : right.kind === 'field' ? b.kind : a.kind;
  const x = coerce(a.value, a.kind, kind);
  const y = coerce(b.value, b.kind, kind);
  if (x === undefined || y === undefined || (typeof x === 'number' && Number.isNaN(x)) || (typeof y === 'number' && Number.isNaN(y)))
    return null;
  const order =
    (x as number | string | boolean) < (y as number | string | boolean)
      ? -1
      : (x as number | string | boolean) > (y as number | string | boolean)
        ? 1
        : 0;
  switch (op) {
    case 'eq':
      return order === 0;
    case 'ne':
      return order !== 0;
    case 'gt':
      return order > 0;
    case 'ge':
      return order >= 0;
    case 'lt':
      return order < 0;
    case 'le':
      return order <= 0;
  }
}

// ---------------------------------------------------------------------------------------------
// $orderby, $skiptoken, Accept

interface OrderClause {
  field: string;
  descending: boolean;
}

function parseOrderby(text: string): OrderClause[] {
  const clauses: OrderClause[] = [];
  let at = 0;
  for (const part of text.split(',')) {
    const match = /^(\s*)([A-Za-z_$][A-Za-z0-9_]*(?:\/[A-Za-z_$][A-Za-z0-9_]*)*)(?:\s+(asc|desc))?\s*$/.exec(part);
    if (!match) throw new ProblemError(P.unparseableFilter(`could not parse $orderby clause ${JSON.stringify(part)}`));
    const field = match[2]!;
    if (!FILTERABLE.has(rootField(field))) throw new ProblemError(P.unsupportedField(field, at + match[1]!.length));
    clauses.push({ field: rootField(field), descending: match[3] === 'desc' });
    at += part.length + 1;
  }
  return clauses;
}

function encodeSkiptoken(instanceId: string): string {
  return `01${Buffer.from(JSON.stringify({ instanceId }), 'utf8').toString('base64')}`;
}

function decodeSkiptoken(token: string): string {
  if (!token.startsWith('01')) throw new ProblemError(P.badSkiptoken());
  const encoded = token.slice(2);
  if (encoded.length === 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) throw new ProblemError(P.badSkiptoken());
  try {
    const parsed = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) as unknown;
    if (parsed !== null && typeof parsed === 'object' && typeof (parsed as { instanceId?: unknown }).instanceId === 'string')
      return (parsed as { instanceId: string }).instanceId;
  } catch {
    // fall through
  }
  throw new ProblemError(P.badSkiptoken());
}

function acceptsJson(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  return accept.split(',').some((range) => {
    const [type, ...params] = range.split(';').map((s) => s.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    if (q !== undefined && Number(q.slice(2)) === 0) return false;
    return type === '*/*' || type === 'application/*' || type === 'application/json' || type === 'json';
  });
}

// ---------------------------------------------------------------------------------------------
// Helpers

const TOKEN_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!$';

function newToken(): string {
  return Array.from(randomBytes(64), (byte) => TOKEN_ALPHABET[byte & 63]).join('');
}

function leaf(value: unknown): unknown {
  return value === undefined || value === '' ? null : value;
}

function cleanGroup(group: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(group).map(([key, value]) => [key, leaf(value)]));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

interface Stored {
  seq: number;
  /** The data as the test gave it (groups cleaned), used to rebuild the row on edit. */
  data: { beneficiary: Record<string, unknown>; payment: Record<string, unknown> };
  row: FakeSubmission;
}

interface Session {
  createdAt: number;
  expiresAt: number;
}

type Caller = { kind: 'user'; token: string | undefined } | { kind: 'app' };

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Raw text body (with its own content type), for proxy-like faults. */
  text?: string;
}

const problemReply = (p: Problem): Reply => ({ status: Math.floor(p.code), body: p });

const PROXY_PAGES: Record<number, string> = {
  429: 'Too Many Requests',
  502: 'Bad Gateway',
  503: 'Service Temporarily Unavailable',
  504: 'Gateway Time-out',
};

// ---------------------------------------------------------------------------------------------
// The server

export async function startFakeCentral(options: FakeCentralOptions): Promise<FakeCentral> {
  const domain = (options.domain ?? 'http://central.invalid:8989').replace(/\/+$/, '');
  const lifetimeMs = options.sessionLifetimeMs ?? DAY_MS;
  const fields: FakeField[] = (options.fields ?? SPAR_ENROLMENT_FIELDS).map((f) => ({ ...f }));
  const published = options.published ?? true;
  const encrypted = options.encrypted ?? false;
  const formCreatedAt = '2026-03-14T05:00:00.000Z';

  const requests: FakeRequest[] = [];
  const sessions = new Map<string, Session>();
  let appTokenRevoked = false;
  const faults: { status: FakeFaultStatus; remaining: number; retryAfterSeconds?: number; includeLogin: boolean }[] = [];
  const stored: Stored[] = [];
  const byId = new Map<string, Stored>();
  const submitters = new Map<string, string>();
  let seq = 0;
  let dataVersion = 0;
  let clock = Date.parse(options.clockStart ?? '2026-03-14T06:00:00.000Z');
  if (Number.isNaN(clock)) throw new Error(`clockStart is not a date: ${options.clockStart}`);

  const iso = (ms: number): string => new Date(ms).toISOString();
  const tick = (): string => {
    clock += 1;
    dataVersion++;
    return iso(clock);
  };

  const submitterIdOf = (name: string): string => {
    let id = submitters.get(name);
    if (id === undefined) {
      id = String(7 + submitters.size);
      submitters.set(name, id);
    }
    return id;
  };

  const deviceIdOf = (name: string): string => {
    const digest = createHash('sha256').update(name).digest();
    return `collect:${Array.from(digest.subarray(0, 16), (byte) => TOKEN_ALPHABET[byte % 62]).join('')}`;
  };

  /** The form data part of a row, in field order; empty leaves null; repeats with no rows absent. */
  const buildData = (record: Stored, instanceID: string, deviceId: string, started: number): Record<string, unknown> => {
    const { beneficiary, payment } = record.data;
    const national = beneficiary['national_id'];
    const fullName = beneficiary['full_name'];
    const instanceName = national == null && fullName == null ? null : `${national ?? ''} - ${fullName ?? ''}`;
    const source: Record<string, unknown> = {
      start: iso(started - 5 * 60_000),
      end: iso(started - 60_000),
      deviceid: deviceId,
      beneficiary,
      payment,
      meta: { instanceID, instanceName },
    };
    const out: Record<string, unknown> = {};
    const repeats: string[] = [];
    for (const field of fields) {
      const segments = field.path.split('/').filter((s) => s !== '');
      if (segments.length === 0) continue;
      if (repeats.some((r) => field.path === r || field.path.startsWith(`${r}/`))) continue;
      if (field.type === 'repeat') {
        repeats.push(field.path);
        continue;
      }
      let target = out;
      let from: unknown = source;
      for (const segment of segments.slice(0, -1)) {
        if (typeof target[segment] !== 'object' || target[segment] === null) target[segment] = {};
        target = target[segment] as Record<string, unknown>;
        from = from !== null && typeof from === 'object' ? (from as Record<string, unknown>)[segment] : undefined;
      }
      const last = segments[segments.length - 1]!;
      const value = from !== null && typeof from === 'object' ? (from as Record<string, unknown>)[last] : undefined;
      if (field.type === 'structure') {
        if (typeof target[last] !== 'object' || target[last] === null) target[last] = {};
      } else {
        target[last] = leaf(value);
      }
    }
    // Keep whatever else the test passed in the two groups, and always emit them and meta.
    for (const group of ['beneficiary', 'payment'] as const) {
      const target = (typeof out[group] === 'object' && out[group] !== null ? out[group] : (out[group] = {})) as Record<string, unknown>;
      for (const [key, value] of Object.entries(record.data[group])) if (!(key in target)) target[key] = leaf(value);
    }
    if (!('meta' in out)) out['meta'] = { instanceID, instanceName };
    return out;
  };

  const findRecord = (id: string): Stored => {
    const record = byId.get(id);
    if (record === undefined) throw new Error(`fake Central: no submission ${id}`);
    return record;
  };

  const copy = (row: FakeSubmission): FakeSubmission => structuredClone(row);

  /** The row as OData serves it (encrypted forms: __id and __system only). */
  const served = (row: FakeSubmission): Record<string, unknown> =>
    encrypted ? { __id: row.__id, __system: { ...row.__system } } : copy(row);

  // --- auth -----------------------------------------------------------------------------------

  const authenticate = (req: IncomingMessage): Caller | Problem => {
    const header = req.headers.authorization;
    if (header === undefined || header.trim() === '') return P.authFailed();
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (bearer) {
      const token = bearer[1]!;
      if (options.appUserToken !== undefined && token === options.appUserToken) return appTokenRevoked ? P.authFailed() : { kind: 'app' };
      const session = sessions.get(token);
      if (session === undefined || session.expiresAt <= Date.now()) return P.authFailed();
      return { kind: 'user', token };
    }
    const basic = /^Basic\s+(\S+)\s*$/i.exec(header);
    if (basic) {
      if (req.headers['x-forwarded-proto'] !== 'https') return P.httpsOnly();
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0 && decoded.slice(0, colon) === options.email && decoded.slice(colon + 1) === options.password)
        return { kind: 'user', token: undefined };
    }
    return P.authFailed();
  };

  const isProblem = (value: Caller | Problem): value is Problem => 'code' in value;

  // --- endpoints ------------------------------------------------------------------------------

  const login = (body: string): Reply => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return problemReply(P.notJson(body.length));
    }
    const given = (parsed !== null && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
    if (typeof given['email'] !== 'string' || typeof given['password'] !== 'string') return problemReply(P.missingParameters(given));
    if (given['email'] !== options.email || given['password'] !== options.password) return problemReply(P.authFailed());
    const now = Date.now();
    const token = newToken();
    const session: Session = { createdAt: now, expiresAt: now + lifetimeMs };
    sessions.set(token, session);
    state.logins++;
    return { status: 200, body: { createdAt: iso(session.createdAt), expiresAt: iso(session.expiresAt), token, csrf: newToken() } };
  };

  const formBody = () => ({
    projectId: options.projectId,
    xmlFormId: options.formId,
    name: FORM_NAME,
    version: FORM_VERSION,
    enketoId: null,
    hash: createHash('md5').update(options.formId).digest('hex'),
    keyId: encrypted ? 1 : null,
    state: 'open',
    publishedAt: published ? formCreatedAt : null,
    createdAt: formCreatedAt,
    updatedAt: null,
  });

  const formBase = (): string => `${domain}/v1/projects/${options.projectId}/forms/${encodeURIComponent(options.formId)}.svc`;
  const context = (): string => `${formBase()}/$metadata#Submissions`;

  const etagFor = (search: string): string => `W/"${createHash('sha1').update(`${dataVersion}|${search}`).digest('hex')}"`;

  const withEtag = (req: IncomingMessage, search: string, reply: Reply): Reply => {
    if (reply.status !== 200) return reply;
    const etag = etagFor(search);
    if (req.headers['if-none-match'] === etag) return { status: 304, headers: { ETag: etag, 'Cache-Control': 'private, no-cache' } };
    return { ...reply, headers: { ...reply.headers, ETag: etag, 'Cache-Control': 'private, no-cache' } };
  };

  const defaultOrder = (a: Stored, b: Stored): number => {
    const byDate = Date.parse(b.row.__system.submissionDate) - Date.parse(a.row.__system.submissionDate);
    return byDate !== 0 ? byDate : b.seq - a.seq;
  };

  const orderBy =
    (clauses: OrderClause[]) =>
    (a: Stored, b: Stored): number => {
      for (const clause of clauses) {
        const x = fieldValue(a.row, clause.field);
        const y = fieldValue(b.row, clause.field);
        if (x === y) continue;
        // Postgres: NULLs sort last ascending, first descending.
        let order: number;
        if (x === null) order = 1;
        else if (y === null) order = -1;
        else if (DATETIME_FIELDS.has(clause.field)) order = Date.parse(String(x)) - Date.parse(String(y));
        else if (clause.field === '__system/submitterId') order = Number(x) - Number(y);
        else order = String(x) < String(y) ? -1 : 1;
        if (order !== 0) return clause.descending ? -order : order;
      }
      const last = clauses[clauses.length - 1];
      return last?.descending ? b.seq - a.seq : a.seq - b.seq;
    };

  const nonNegativeInteger = (params: URLSearchParams, name: string): number | undefined => {
    const raw = params.get(name);
    if (raw === null) return undefined;
    if (!/^\d+$/.test(raw.trim())) throw new ProblemError(P.badInteger(name));
    return Number(raw.trim());
  };

  const submissionsFeed = (params: URLSearchParams): Reply => {
    const expand = params.get('$expand');
    if (expand !== null && expand !== '*') throw new ProblemError(P.unsupportedExpand(expand));
    const select = params.get('$select');
    if (select !== null && expand !== null) throw new ProblemError(P.selectWithExpand());
    const filterText = params.get('$filter');
    let filter: FilterNode | undefined;
    if (filterText !== null && filterText.trim() !== '') {
      filter = FilterParser.parse(filterText);
      checkFilter(filter);
    }
    const orderbyText = params.get('$orderby');
    const skiptoken = params.get('$skiptoken');
    if (orderbyText !== null && skiptoken !== null) throw new ProblemError(P.orderbyWithSkiptoken());
    const clauses = orderbyText === null ? undefined : parseOrderby(orderbyText);
    const cursorId = skiptoken === null ? undefined : decodeSkiptoken(skiptoken);
    const top = nonNegativeInteger(params, '$top');
    const skip = nonNegativeInteger(params, '$skip');

    const includeDeleted = filter !== undefined && mentionsField(filter, '__system/deletedAt');
    const order = clauses === undefined ? defaultOrder : orderBy(clauses);
    const matching = stored
      .filter((r) => (includeDeleted || r.row.__system.deletedAt === null) && (filter === undefined || evaluate(filter, r.row) === true))
      .sort(order);

    let rest: Stored[];
    if (cursorId !== undefined) {
      const cursor = byId.get(cursorId);
      // A cursor row that no longer exists (purged) leaves nothing after it.
      rest = cursor === undefined ? [] : matching.filter((r) => order(r, cursor) > 0);
    } else {
      rest = skip === undefined ? matching : matching.slice(skip);
    }
    const page = top === undefined ? rest : rest.slice(0, top);

    const body: Record<string, unknown> = { '@odata.context': context() };
    const lastRow = page[page.length - 1];
    if (top !== undefined && rest.length > page.length && lastRow !== undefined) {
      const next = new URLSearchParams();
      for (const [key, value] of params) if (key !== '$skip' && key !== '$skiptoken') next.append(key, value);
      next.append('$skiptoken', encodeSkiptoken(lastRow.row.__id));
      body['@odata.nextLink'] = `${formBase()}/Submissions?${next.toString()}`;
    }
    if (params.get('$count') === 'true') body['@odata.count'] = matching.length;
    body['value'] = page.map((r) => project(served(r.row), select));
    return { status: 200, body };
  };

  /** $select: keeps the named fields/groups (and __id, the key). Unknown names are ignored. */
  const project = (row: Record<string, unknown>, select: string | null): Record<string, unknown> => {
    if (select === null || select.trim() === '' || select.trim() === '*') return row;
    const out: Record<string, unknown> = { __id: row['__id'] };
    for (const raw of select.split(',')) {
      const path = raw
        .trim()
        .split('/')
        .filter((s) => s !== '');
      let from: unknown = row;
      let to: Record<string, unknown> = out;
      path.forEach((segment, i) => {
        if (from === null || typeof from !== 'object' || !(segment in (from as Record<string, unknown>))) {
          from = undefined;
          return;
        }
        const value = (from as Record<string, unknown>)[segment];
        if (i === path.length - 1) {
          to[segment] = structuredClone(value);
        } else {
          if (typeof to[segment] !== 'object' || to[segment] === null) to[segment] = {};
          to = to[segment] as Record<string, unknown>;
          from = value;
        }
      });
    }
    return out;
  };

  const singleSubmission = (id: string): Reply => {
    if (!/^(uuid:)?[a-z0-9-]+$/i.test(id)) return problemReply(P.notFound());
    const record = byId.get(id);
    if (record === undefined || record.row.__system.deletedAt !== null) return problemReply(P.notFound());
    return { status: 200, body: { '@odata.context': context(), value: [served(record.row)] } };
  };

  const route = async (req: IncomingMessage, url: URL, body: string): Promise<Reply> => {
    const method = req.method ?? 'GET';
    const raw = url.pathname.split('/').slice(1);
    if (raw[0] !== 'v1') return problemReply(P.noVersion());
    const segments = raw.map(decodeSegment);
    if (segments.some((s) => s === undefined)) return problemReply(P.notFound());
    const seg = segments as string[];
    const path = seg.slice(1);

    const authed = (handler: (caller: Caller) => Reply): Reply => {
      const caller = authenticate(req);
      if (isProblem(caller)) return problemReply(caller);
      return handler(caller);
    };

    if (path.length === 1 && path[0] === 'sessions' && method === 'POST') return login(body);
    if (path.length === 2 && path[0] === 'sessions' && path[1] === 'restore' && method === 'GET') {
      return authed((caller) => {
        if (caller.kind !== 'user' || caller.token === undefined) return problemReply(P.notFound());
        const session = sessions.get(caller.token)!;
        return { status: 200, body: { createdAt: iso(session.createdAt), expiresAt: iso(session.expiresAt) } };
      });
    }
    if (path.length === 2 && path[0] === 'sessions' && method === 'DELETE') {
      return authed((caller) => {
        const target = path[1] === 'current' ? (caller.kind === 'user' ? caller.token : undefined) : path[1];
        if (target === undefined || !sessions.delete(target)) return problemReply(P.notFound());
        return { status: 200, body: { success: true } };
      });
    }
    if (path.length === 2 && path[0] === 'users' && path[1] === 'current' && method === 'GET') {
      // An App User is an actor but not a user: Central answers 404.1.
      return authed((caller) =>
        caller.kind === 'app'
          ? problemReply(P.notFound())
          : {
              status: 200,
              body: {
                id: 5,
                type: 'user',
                displayName: 'Importer',
                email: options.email,
                createdAt: formCreatedAt,
                updatedAt: null,
                deletedAt: null,
              },
            },
      );
    }
    if (method !== 'GET' || path.length < 4 || path[0] !== 'projects' || path[2] !== 'forms') return problemReply(P.notFound());

    const projectMatches = path[1] === String(options.projectId);
    const formSegment = path[3]!;
    if (path.length === 4 && !formSegment.endsWith('.svc')) {
      return authed(() =>
        projectMatches && formSegment === options.formId ? { status: 200, body: formBody() } : problemReply(P.notFound()),
      );
    }
    if (path.length === 5 && path[4] === 'fields') {
      return authed(() =>
        projectMatches && formSegment === options.formId && published
          ? { status: 200, body: fields.map((f) => ({ ...f })) }
          : problemReply(P.notFound()),
      );
    }
    if (!formSegment.endsWith('.svc') || path.length > 5) return problemReply(P.notFound());
    const table = path[4];
    const single = table === undefined ? undefined : /^Submissions\('((?:[^']|'')*)'\)$/.exec(table);
    if (table !== undefined && table !== 'Submissions' && single === null) return problemReply(P.notFound());

    return authed((caller) => {
      if (!acceptsJson(req.headers.accept)) return problemReply(P.notAcceptable());
      if (!projectMatches || formSegment.slice(0, -'.svc'.length) !== options.formId || !published) return problemReply(P.notFound());
      if (caller.kind === 'app') return problemReply(P.forbidden());
      try {
        if (table === undefined) {
          return withEtag(req, url.search, {
            status: 200,
            body: { '@odata.context': `${formBase()}/$metadata`, value: [{ kind: 'EntitySet', name: 'Submissions', url: 'Submissions' }] },
          });
        }
        if (single) return withEtag(req, url.search, singleSubmission(single[1]!.replace(/''/g, "'")));
        return withEtag(req, url.search, submissionsFeed(url.searchParams));
      } catch (error) {
        if (error instanceof ProblemError) return problemReply(error.problem);
        throw error;
      }
    });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://fake-central.invalid');
    const query: Record<string, string> = {};
    for (const [key, value] of url.searchParams) query[key] = value;
    const header = req.headers.authorization;
    const auth: FakeRequest['auth'] = header === undefined ? 'none' : /^Bearer\s/i.test(header) ? 'bearer' : 'other';
    const entry: FakeRequest = { method: req.method ?? 'GET', path: url.pathname, query, auth, status: 0 };
    requests.push(entry);
    const body = await readBody(req);

    let reply: Reply;
    const isLogin = entry.method === 'POST' && url.pathname === '/v1/sessions';
    const fault = faults.find((f) => f.remaining > 0 && (f.includeLogin || !isLogin));
    if (fault !== undefined) {
      fault.remaining--;
      const headers: Record<string, string> =
        fault.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(fault.retryAfterSeconds) };
      reply =
        fault.status === 500
          ? { status: 500, body: { message: 'Internal Server Error' }, headers }
          : {
              status: fault.status,
              text: `<html>\r\n<head><title>${fault.status} ${PROXY_PAGES[fault.status]}</title></head>\r\n<body>\r\n<center><h1>${fault.status} ${PROXY_PAGES[fault.status]}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`,
              headers,
            };
      while (faults.length > 0 && faults[0]!.remaining === 0) faults.shift();
    } else {
      try {
        reply = await route(req, url, body);
      } catch {
        reply = { status: 500, body: { message: 'Internal Server Error' } };
      }
    }

    entry.status = reply.status;
    const headers: Record<string, string> = { ...reply.headers };
    let payload = '';
    if (reply.text !== undefined) {
      headers['Content-Type'] = 'text/html';
      payload = reply.text;
    } else if (reply.body !== undefined) {
      headers['Content-Type'] = 'application/json; charset=utf-8';
      payload = JSON.stringify(reply.body);
    }
    headers['Content-Length'] = String(Buffer.byteLength(payload));
    res.writeHead(reply.status, headers);
    res.end(payload);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ message: 'Internal Server Error' }));
    });
  });
  const port = await listenOnLoopback(server);

  const state: FakeCentral = {
    url: `http://127.0.0.1:${port}`,
    domain,
    requests,
    logins: 0,

    submit(data, submitOptions) {
      const submitterName = submitOptions?.submitterName ?? DEFAULT_SUBMITTER;
      const submissionDate = tick();
      const id = `uuid:${randomUUID()}`;
      const deviceId = deviceIdOf(submitterName);
      const reviewState = submitOptions?.reviewState ?? null;
      const record: Stored = {
        seq: ++seq,
        data: { beneficiary: cleanGroup(data.beneficiary), payment: cleanGroup(data.payment) },
        row: undefined as unknown as FakeSubmission,
      };
      const system: FakeSubmissionSystem = {
        submissionDate,
        updatedAt: null,
        deletedAt: null,
        submitterId: submitterIdOf(submitterName),
        submitterName,
        attachmentsPresent: 0,
        attachmentsExpected: 0,
        status: encrypted ? 'notDecrypted' : null,
        reviewState: null,
        deviceId,
        edits: 0,
        formVersion: FORM_VERSION,
      };
      // A review state is set after receipt, which stamps updatedAt (as a PATCH would).
      if (reviewState !== null) {
        system.reviewState = reviewState;
        system.updatedAt = tick();
      }
      record.row = { __id: id, __system: system, ...buildData(record, id, deviceId, Date.parse(submissionDate)) } as FakeSubmission;
      stored.push(record);
      byId.set(id, record);
      return copy(record.row);
    },

    edit(id, data) {
      const record = findRecord(id);
      if (record.row.__system.deletedAt !== null) throw new Error(`fake Central: submission ${id} is deleted`);
      const updatedAt = tick();
      record.data = {
        beneficiary: { ...record.data.beneficiary, ...cleanGroup(data.beneficiary ?? {}) },
        payment: { ...record.data.payment, ...cleanGroup(data.payment ?? {}) },
      };
      const system: FakeSubmissionSystem = {
        ...record.row.__system,
        updatedAt,
        reviewState: 'edited',
        edits: record.row.__system.edits + 1,
      };
      const data2 = buildData(record, `uuid:${randomUUID()}`, system.deviceId ?? '', Date.parse(updatedAt));
      // Device times of the original submission stay as they were.
      for (const key of ['start', 'end']) if (key in record.row) data2[key] = record.row[key];
      record.row = { __id: id, __system: system, ...data2 } as FakeSubmission;
      return copy(record.row);
    },

    review(id, reviewState) {
      const record = findRecord(id);
      record.row.__system.reviewState = reviewState;
      record.row.__system.updatedAt = tick();
    },

    remove(id) {
      const record = findRecord(id);
      record.row.__system.deletedAt = tick();
    },

    restore(id) {
      const record = findRecord(id);
      tick();
      record.row.__system.deletedAt = null;
    },

    get(id) {
      const record = byId.get(id);
      return record === undefined ? undefined : copy(record.row);
    },

    inject(fault) {
      if (!Number.isInteger(fault.count) || fault.count < 0) throw new Error('fake Central: inject count must be a non-negative integer');
      faults.push({
        status: fault.status,
        remaining: fault.count,
        includeLogin: fault.includeLogin ?? false,
        ...(fault.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: fault.retryAfterSeconds }),
      });
    },

    advance(ms) {
      if (!(ms >= 0)) throw new Error('fake Central: the clock only moves forward');
      clock += ms;
    },

    now() {
      return iso(clock);
    },

    expireTokens() {
      sessions.clear();
      appTokenRevoked = true;
    },

    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
  return state;
}
