import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/adapters/http/canonical-json.js';
import { isBatchFailure, type BatchFailure, type ProtocolItem, type RequestContext } from '../../src/adapters/http/protocol.js';
import { strategyIdOf } from '../../src/adapters/http/protocols/g2p-connect.js';
import { sparV1Protocol } from '../../src/adapters/http/protocols/spar-v1.js';
import { UsageError } from '../../src/core/errors.js';
import type { LinkItem, ResolveItem, UnlinkItem } from '../../src/core/mapper.js';
import type { BankFa } from '../../src/core/model.js';
import { classifyResult, type ItemResult, type Operation } from '../../src/core/results.js';
import { compileStrategy, DEFAULT_STRATEGIES, deconstructFa } from '../../src/core/strategy/strategy.js';
import { thrownBy } from '../helpers/errors.js';

// The SPAR 0.1 bank strategy the G1 examples' FA strings were built with
// (`account:{account_no}@{branch}.{bank}.{type}`, research/g2p-connect.md §7.2), as a strategy row.
const G0_BANK = compileStrategy({
  id: 90,
  strategy_type: 'FA',
  description: 'SPAR 0.1 bank',
  construct_strategy: 'account:{account_number}@{branch_code}.{bank_code}.bank_acc',
  deconstruct_strategy: '^account:(?P<account_number>[^@]*)@(?P<branch_code>[^.]*)\\.(?P<bank_code>[^.]*)\\.bank_acc$',
  active: true,
});

const ctx: RequestContext = {
  requestId: 'm-0001',
  transactionId: 't-0001',
  timestamp: '2025-05-01T10:00:00Z',
  sender: 'social-registry',
  strategies: new Map([...DEFAULT_STRATEGIES, G0_BANK].map((s) => [s.id, s])),
};

const bank = (overrides: Partial<BankFa> = {}): BankFa => ({
  strategy_id: 2,
  fa_type: 'BANK',
  bank_name: 'Bank 2',
  bank_code: 'dfsp2',
  branch_name: 'Indigo Branch',
  branch_code: 'indigo',
  account_number: '5494373447',
  ...overrides,
});

// What SPAR 2.x stores for bank() with strategy 2 (research/g2p-connect.md §5.7).
const STRATEGY_2_FA =
  'account_number:5494373447.branch_name:Indigo Branch.branch_code:indigo.bank_name:Bank 2.bank_code:dfsp2.fa_type:BANK';

const HEADER_REQUIRED = ['message_id', 'message_ts', 'action', 'sender_id', 'total_count'];
// RequestHeader properties in openg2p-spar 1.1's OpenAPI (reference/spar/openg2p-spar-openapi.json).
const HEADER_DOCUMENTED = [...HEADER_REQUIRED, 'version', 'sender_uri', 'receiver_id', 'is_msg_encrypted', 'meta'];

function expectNoFloats(value: unknown, path = '$'): void {
  if (typeof value === 'number') expect(Number.isInteger(value), `${path} is ${value}`).toBe(true);
  else if (Array.isArray(value)) value.forEach((v, i) => expectNoFloats(v, `${path}[${i}]`));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) expectNoFloats(v, `${path}.${k}`);
}

const asRecord = (value: unknown) => value as Record<string, any>;

function results(operation: Operation, body: unknown, items: readonly ProtocolItem[]): ItemResult[] {
  const parsed = sparV1Protocol.parseResponse(operation, body, items);
  if (isBatchFailure(parsed)) throw new Error(`unexpected batch failure: ${parsed.message}`);
  return parsed;
}

function failure(operation: Operation, body: unknown, items: readonly ProtocolItem[] = []): BatchFailure {
  const parsed = sparV1Protocol.parseResponse(operation, body, items);
  if (!isBatchFailure(parsed)) throw new Error('expected a batch failure');
  return parsed;
}

const byRef = (list: ItemResult[]) => new Map(list.map((r) => [r.reference_id, r]));

describe('spar-v1 paths', () => {
  it('uses the 1.x sync paths relative to the deployment root', () => {
    expect(sparV1Protocol.name).toBe('spar-v1');
    expect(sparV1Protocol.defaultPaths).toEqual({
      link: '/sync/link',
      update: '/sync/update',
      resolve: '/sync/resolve',
      unlink: '/sync/unlink',
    });
  });
});

describe('spar-v1 buildRequest', () => {
  it('reproduces the documented G1 link request (spar-api.md §9.2) with a locally built FA string', () => {
    const item: LinkItem = {
      reference_id: 'r1',
      id: 'token:C3Ox283vuVaPENTpRCtaoJQU2xFsbkk8d9ZwHbvUI60@nationalId',
      fa: bank({ strategy_id: 90 }),
      name: 'Gloria Macapagal-Arroyo',
      phone_number: '+745 9579222149',
    };
    const body = sparV1Protocol.buildRequest('link', [item], ctx);
    // §9.2 minus the async-only/defaulted sender_uri, receiver_id and meta; total_count is the
    // real item count, and additional_info carries the strategy id instead of null.
    expect(body).toEqual({
      header: {
        version: '1.0.0',
        message_id: 'm-0001',
        message_ts: '2025-05-01T10:00:00Z',
        action: 'link',
        sender_id: 'social-registry',
        total_count: 1,
        is_msg_encrypted: false,
      },
      message: {
        transaction_id: 't-0001',
        link_request: [
          {
            reference_id: 'r1',
            timestamp: '2025-05-01T10:00:00Z',
            id: 'token:C3Ox283vuVaPENTpRCtaoJQU2xFsbkk8d9ZwHbvUI60@nationalId',
            fa: 'account:5494373447@indigo.dfsp2.bank_acc',
            name: 'Gloria Macapagal-Arroyo',
            phone_number: '+745 9579222149',
            additional_info: [{ strategy_id: 90 }],
            locale: 'en',
          },
        ],
      },
    });
    const header = asRecord(body).header as Record<string, unknown>;
    for (const key of HEADER_REQUIRED) expect(header).toHaveProperty(key);
    for (const key of Object.keys(header)) expect(HEADER_DOCUMENTED).toContain(key);
  });

  it('builds the strategy 2 FA string exactly as SPAR does, one item per record, header from the context', () => {
    const items: LinkItem[] = [
      { reference_id: 'a', id: 'BENE_1', fa: bank() },
      { reference_id: 'b', id: 'BENE_2', fa: bank({ account_number: '1114169773' }), additional_info: [{ source: 'sparctl' }] },
    ];
    for (const operation of ['link', 'update'] as const) {
      const body = asRecord(sparV1Protocol.buildRequest(operation, items, ctx));
      expect(Object.keys(body).sort()).toEqual(['header', 'message']);
      expect(body.header.action).toBe(operation);
      expect(body.header.total_count).toBe(2);
      expect(Object.keys(body.message).sort()).toEqual([`${operation}_request`, 'transaction_id'].sort());
      const [first, second] = body.message[`${operation}_request`];
      expect(first.fa).toBe(STRATEGY_2_FA);
      expect(second.fa).toBe(STRATEGY_2_FA.replace('5494373447', '1114169773'));
      // SPAR's rule: strategy_id goes into additional_info[0], the caller's own keys kept.
      expect(first.additional_info).toEqual([{ strategy_id: 2 }]);
      expect(second.additional_info).toEqual([{ source: 'sparctl', strategy_id: 2 }]);
      expect(first).not.toHaveProperty('name');
      expect(first).not.toHaveProperty('phone_number');
      expectNoFloats(body);
      expect(() => canonicalJson(body)).not.toThrow();
    }
    // The caller's object is not changed by the strategy_id injection.
    expect(items[1]!.additional_info).toEqual([{ source: 'sparctl' }]);
  });

  it('keeps a strategy_id the caller already put in additional_info[0], as SPAR does', () => {
    const body = asRecord(
      sparV1Protocol.buildRequest('link', [{ reference_id: 'a', id: 'X', fa: bank(), additional_info: [{ strategy_id: 5 }] }], ctx),
    );
    expect(body.message.link_request[0].additional_info).toEqual([{ strategy_id: 5 }]);
  });

  it('builds resolve items with the scope and unlink items with id and the optional FA string', () => {
    const resolveItems: ResolveItem[] = [
      { reference_id: 'r1', id: 'BENE_1', scope: 'details' },
      { reference_id: 'r2', id: 'BENE_2', scope: 'yes_no' },
    ];
    const resolve = asRecord(sparV1Protocol.buildRequest('resolve', resolveItems, ctx));
    expect(resolve.header.action).toBe('resolve');
    expect(resolve.message.resolve_request).toEqual([
      { reference_id: 'r1', timestamp: ctx.timestamp, id: 'BENE_1', scope: 'details', locale: 'en' },
      { reference_id: 'r2', timestamp: ctx.timestamp, id: 'BENE_2', scope: 'yes_no', locale: 'en' },
    ]);

    const unlinkItems: UnlinkItem[] = [
      { reference_id: 'u1', id: 'BENE_1' },
      { reference_id: 'u2', id: 'BENE_2', fa: STRATEGY_2_FA },
    ];
    const unlink = asRecord(sparV1Protocol.buildRequest('unlink', unlinkItems, ctx));
    expect(unlink.header).toMatchObject({ action: 'unlink', total_count: 2 });
    expect(unlink.message.unlink_request).toEqual([
      { reference_id: 'u1', timestamp: ctx.timestamp, id: 'BENE_1', locale: 'en' },
      { reference_id: 'u2', timestamp: ctx.timestamp, id: 'BENE_2', fa: STRATEGY_2_FA, locale: 'en' },
    ]);
  });

  it('refuses an FA whose strategy the profile does not know', () => {
    const error = thrownBy(UsageError, () =>
      sparV1Protocol.buildRequest('link', [{ reference_id: 'a', id: 'X', fa: bank({ strategy_id: 77 }) }], ctx),
    );
    expect(error.code).toBe('request.unknown_strategy');
  });
});

// spar-api.md §9.3, with the "…" placeholders filled in.
const LINK_RESPONSE = {
  header: {
    version: '1.0.0',
    message_id: 'm-0001',
    message_ts: '2025-05-01T10:00:00.51',
    action: 'link',
    status: 'succ',
    status_reason_code: null,
    status_reason_message: null,
    total_count: 2,
    completed_count: 1,
    sender_id: 'social-registry',
    receiver_id: 'spar',
    is_msg_encrypted: false,
    meta: {},
  },
  message: {
    transaction_id: 't-0001',
    correlation_id: null,
    link_response: [
      {
        reference_id: 'r1',
        timestamp: '2025-05-01T10:00:00.50',
        fa: 'account:5494373447@indigo.dfsp2.bank_acc',
        status: 'succ',
        status_reason_code: null,
        status_reason_message: null,
        additional_info: null,
        locale: 'en',
      },
      {
        reference_id: 'r2',
        timestamp: '2025-05-01T10:00:00.51',
        fa: 'account:1114169773@rhino.dfsp1.bank_acc',
        status: 'rjct',
        status_reason_code: 'rjct.reference_id.duplicate',
        status_reason_message: 'ID and FA are already mapped',
        additional_info: null,
        locale: 'en',
      },
    ],
  },
};

const linkItems: LinkItem[] = [
  { reference_id: 'r1', id: 'token:8217353245@nationalId', fa: bank({ strategy_id: 90 }) },
  {
    reference_id: 'r2',
    id: 'token:5474889656@nationalId',
    fa: bank({ strategy_id: 90, account_number: '1114169773', branch_code: 'rhino', bank_code: 'dfsp1' }),
  },
];

const header = (extra: Record<string, unknown> = {}) => ({ ...LINK_RESPONSE.header, ...extra });

describe('spar-v1 parseResponse', () => {
  it('reads the documented link answer: one linked, one already linked', () => {
    const parsed = results('link', LINK_RESPONSE, linkItems);
    expect(parsed).toEqual([
      {
        reference_id: 'r1',
        id: 'token:8217353245@nationalId',
        status: 'succ',
        status_reason_code: null,
        status_reason_message: null,
        fa: 'account:5494373447@indigo.dfsp2.bank_acc',
      },
      {
        reference_id: 'r2',
        id: 'token:5474889656@nationalId',
        status: 'rjct',
        status_reason_code: 'rjct.reference_id.duplicate',
        status_reason_message: 'ID and FA are already mapped',
        fa: 'account:1114169773@rhino.dfsp1.bank_acc',
      },
    ]);
    expect(parsed.map((r) => classifyResult('link', r))).toEqual(['linked', 'already_linked']);
  });

  it('correlates by reference_id, not by position, and skips answers to items it did not send', () => {
    const items: LinkItem[] = ['a', 'b', 'c', 'd', 'e'].map((ref) => ({ reference_id: ref, id: `BENE_${ref}`, fa: bank() }));
    const answer = (ref: string, ok: boolean) => ({
      reference_id: ref,
      timestamp: 'x',
      fa: 'f',
      status: ok ? 'succ' : 'rjct',
      status_reason_code: ok ? null : 'rjct.reference_id.duplicate',
      status_reason_message: ok ? null : 'ID and FA are already mapped',
    });
    const shuffled = [
      answer('d', true),
      answer('a', false),
      answer('zz', true),
      { status: 'succ' },
      'junk',
      answer('e', true),
      answer('c', false),
      answer('b', true),
    ];
    const parsed = byRef(results('link', { header: header(), message: { link_response: shuffled } }, items));
    expect([...parsed.keys()].sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    for (const [ref, result] of parsed) expect(result.id).toBe(`BENE_${ref}`);
    expect(['a', 'b', 'c', 'd', 'e'].map((ref) => classifyResult('link', parsed.get(ref)!))).toEqual([
      'already_linked',
      'linked',
      'already_linked',
      'linked',
      'linked',
    ]);
  });

  it('reads resolve: the stored FA string and additional_info for details, null when not found or yes_no', () => {
    const items: ResolveItem[] = [
      { reference_id: 'res-1', id: 'BENE_0001', scope: 'details' },
      { reference_id: 'res-2', id: 'BENE_0002', scope: 'details' },
      { reference_id: 'res-3', id: 'BENE_0001', scope: 'yes_no' },
    ];
    const body = {
      header: header({ action: 'resolve' }),
      message: {
        transaction_id: 't',
        correlation_id: null,
        resolve_response: [
          {
            reference_id: 'res-2',
            timestamp: 't',
            fa: null,
            id: null,
            account_provider_info: null,
            status: 'succ',
            status_reason_code: 'succ.fa.not_linked_to_id',
            status_reason_message: "ID doesn't exist, please link first",
            additional_info: null,
            locale: 'en',
          },
          {
            reference_id: 'res-3',
            timestamp: 't',
            fa: null,
            id: 'BENE_0001',
            account_provider_info: null,
            status: 'succ',
            status_reason_code: 'succ.id.active',
            status_reason_message: null,
            additional_info: null,
            locale: 'en',
          },
          {
            reference_id: 'res-1',
            timestamp: 't',
            fa: STRATEGY_2_FA,
            id: 'BENE_0001',
            account_provider_info: null,
            status: 'succ',
            status_reason_code: 'succ.id.active',
            status_reason_message: null,
            additional_info: [{ strategy_id: 2 }],
            locale: 'en',
          },
        ],
      },
    };
    const parsed = byRef(results('resolve', body, items));
    expect(parsed.get('res-1')).toEqual({
      reference_id: 'res-1',
      id: 'BENE_0001',
      status: 'succ',
      status_reason_code: 'succ.id.active',
      status_reason_message: null,
      fa: STRATEGY_2_FA,
      additional_info: [{ strategy_id: 2 }],
    });
    expect(parsed.get('res-2')).toMatchObject({ id: 'BENE_0002', fa: null });
    expect(parsed.get('res-3')).toMatchObject({ fa: null });
    expect(items.map((item) => classifyResult('resolve', parsed.get(item.reference_id)!))).toEqual(['found', 'not_found', 'found']);

    // The caller can read the FA back with the strategy kept in additional_info.
    const found = parsed.get('res-1')!;
    const strategy = ctx.strategies.get(strategyIdOf(found.additional_info)!)!;
    expect(deconstructFa(strategy, found.fa as string)).toEqual({
      account_number: '5494373447',
      branch_name: 'Indigo Branch',
      branch_code: 'indigo',
      bank_name: 'Bank 2',
      bank_code: 'dfsp2',
      fa_type: 'BANK',
    });
  });

  it('passes SPAR’s update and unlink codes through so they classify as not_found like v2', () => {
    const items = [
      { reference_id: 'u1', id: 'BENE_0001', fa: bank() },
      { reference_id: 'u2', id: 'BENE_9999', fa: bank() },
    ];
    const update = results(
      'update',
      {
        header: header({ action: 'update' }),
        message: {
          transaction_id: 't',
          update_response: [
            {
              reference_id: 'u1',
              timestamp: 't',
              id: 'BENE_0001',
              status: 'succ',
              status_reason_code: null,
              status_reason_message: null,
              additional_info: null,
              locale: 'en',
            },
            {
              reference_id: 'u2',
              timestamp: 't',
              id: 'BENE_9999',
              status: 'rjct',
              status_reason_code: 'rjct.reference_id.duplicate',
              status_reason_message: 'ID doesnt exist please link first',
              additional_info: null,
              locale: 'en',
            },
          ],
        },
      },
      items,
    );
    expect(update.map((r) => classifyResult('update', r))).toEqual(['updated', 'not_found']);
    expect(update[1]).not.toHaveProperty('fa');

    const unlink = results(
      'unlink',
      {
        header: header({ action: 'unlink' }),
        message: {
          transaction_id: 't',
          unlink_response: [
            { reference_id: 'u1', timestamp: 't', id: '', status: 'succ', status_reason_code: null, status_reason_message: null },
            {
              reference_id: 'u2',
              timestamp: 't',
              id: '',
              status: 'rjct',
              status_reason_code: 'rjct.id.invalid',
              status_reason_message: 'ID doesnt exist please link first',
            },
          ],
        },
      },
      items,
    );
    // The server blanks the id; the result carries the requested one.
    expect(unlink.map((r) => r.id)).toEqual(['BENE_0001', 'BENE_9999']);
    expect(unlink.map((r) => classifyResult('unlink', r))).toEqual(['unlinked', 'not_found']);
  });

  it('reports a request with rcvd/pdng items as not done: its outcome unknown, never a rejection', () => {
    expect(
      failure(
        'link',
        {
          header: header(),
          message: {
            link_response: [
              { reference_id: 'r1', status: 'pdng', status_reason_code: 'rjct.unknown.retry', status_reason_message: null },
              { reference_id: 'r2', status: 'weird' },
            ],
          },
        },
        linkItems,
      ),
    ).toMatchObject({ kind: 'pending', message: expect.stringContaining('1 of its') });
    // A status the spec does not have says nothing of what was done: no result (read back).
    expect(results('link', { header: header(), message: { link_response: [{ reference_id: 'r2', status: 'weird' }] } }, linkItems)).toEqual(
      [],
    );
  });

  it('turns header rejections into batch failures: a bad signature, a wrong action', () => {
    // spar-api.md §5.4: what 1.1 answers when the Signature does not verify.
    const jwt = failure(
      'link',
      {
        signature: null,
        header: header({
          status: 'rjct',
          status_reason_code: 'rjct.jwt.invalid',
          status_reason_message: 'rjct.jwt.invalid',
          completed_count: 0,
        }),
        message: {},
      },
      linkItems,
    );
    expect(jwt).toEqual({ failure: true, kind: 'signature', code: 'rjct.jwt.invalid', message: 'rjct.jwt.invalid' });

    const action = failure('update', {
      header: header({ status: 'rjct', status_reason_code: 'rjct.action.not_supported', status_reason_message: 'Action not supported' }),
      message: {},
    });
    expect(action).toMatchObject({ kind: 'validation', code: 'rjct.action.not_supported' });
  });

  it('reads an async acknowledgement on a sync path as a failure, not as results', () => {
    expect(
      failure('link', {
        message: { ack_status: 'NACK', timestamp: 't', error: { code: 'rjct.jwt.invalid', message: 'bad jwt' }, correlation_id: null },
      }),
    ).toEqual({ failure: true, kind: 'signature', code: 'rjct.jwt.invalid', message: 'bad jwt' });
    expect(failure('link', { message: { ack_status: 'ACK', timestamp: 't', error: null, correlation_id: 'c' } })).toMatchObject({
      kind: 'unknown',
      code: null,
    });
  });

  it('never throws on a body that is not the envelope: each gives an "unknown" failure saying what was wrong', () => {
    const bodies: unknown[] = [
      null,
      'pong',
      42,
      [],
      true,
      {},
      { header: 'x' },
      { header: null, message: {} },
      { header: header() },
      { header: header(), message: null },
      { header: header(), message: { link_response: 'no' } },
      { header: header(), message: { update_response: [] } }, // another operation's list
      { header: header({ status: 'pdng' }), message: {} },
      { errors: [{ code: 'G2P-REQ-102', message: 'Invalid Input' }] },
      // The v2 envelope sent to a v1 profile.
      { response_header: { response_status: 'SUCCESS' }, response_body: { response_payload: { link_response: [] } } },
    ];
    for (const body of bodies) {
      const outcome = failure('link', body, linkItems);
      expect(outcome.kind).toBe('unknown');
      expect(outcome.message).toBeTruthy();
    }
    expect(failure('link', { header: header({ status: 'pdng' }), message: {} }).message).toMatch(/synchronously/);
    expect(failure('link', { errors: [{ code: 'G2P-REQ-102', message: 'Invalid Input' }] })).toMatchObject({ code: 'G2P-REQ-102' });
  });

  it('tolerates missing and unknown fields in an otherwise valid answer', () => {
    const parsed = results(
      'resolve',
      {
        header: { status: 'succ', extra: [1, 2] },
        message: {
          resolve_response: [{ reference_id: 'r1', status: 'succ', status_reason_code: 7, fa: 12, additional_info: 'x', surprise: {} }],
        },
      },
      [{ reference_id: 'r1', id: 'BENE_1', scope: 'details' }],
    );
    expect(parsed).toEqual([
      { reference_id: 'r1', id: 'BENE_1', status: 'succ', status_reason_code: null, status_reason_message: null, fa: null },
    ]);
  });
});
