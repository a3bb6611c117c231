import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/adapters/http/canonical-json.js';
import { isBatchFailure, type BatchFailure, type ProtocolItem, type RequestContext } from '../../src/adapters/http/protocol.js';
import { g2pConnectProtocol, strategyIdOf } from '../../src/adapters/http/protocols/g2p-connect.js';
import { UsageError } from '../../src/core/errors.js';
import type { LinkItem, ResolveItem, UnlinkItem } from '../../src/core/mapper.js';
import type { BankFa, MobileWalletFa } from '../../src/core/model.js';
import { classifyResult, type ItemResult, type Operation } from '../../src/core/results.js';
import { compileStrategy, DEFAULT_STRATEGIES } from '../../src/core/strategy/strategy.js';
import { thrownBy } from '../helpers/errors.js';

// Normative-address strategies that produce the spec examples' FA strings
// (research/g2p-connect.md §5.1, §7.2: `account:{account_no}@{branch}.{bank}.{type}`, `mobile:…@…`).
const G0_BANK = compileStrategy({
  id: 90,
  strategy_type: 'FA',
  description: 'normative bank address',
  construct_strategy: 'account:{account_number}@{branch_code}.{bank_code}.bank_acc',
  deconstruct_strategy: '^account:(?P<account_number>[^@]*)@(?P<branch_code>[^.]*)\\.(?P<bank_code>[^.]*)\\.bank_acc$',
  active: true,
});
const G0_MOBILE = compileStrategy({
  id: 91,
  strategy_type: 'FA',
  description: 'normative mobile wallet address',
  construct_strategy: 'mobile:{mobile_number}@{wallet_provider_code}',
  deconstruct_strategy: '^mobile:(?P<mobile_number>[^@]*)@(?P<wallet_provider_code>.*)$',
  active: true,
});

const ctx: RequestContext = {
  requestId: 'msg-7f3a1c2e-0001',
  transactionId: 'txn-20250115-000123',
  timestamp: '2025-01-15T10:00:00+00:00',
  sender: 'sparctl.socialwelfare.gov',
  strategies: new Map([...DEFAULT_STRATEGIES, G0_BANK, G0_MOBILE].map((s) => [s.id, s])),
};

const bank = (overrides: Partial<BankFa> = {}): BankFa => ({
  strategy_id: 90,
  fa_type: 'BANK',
  bank_name: 'Bank 2',
  bank_code: 'dfsp2',
  branch_name: 'Indigo Branch',
  branch_code: 'indigo',
  account_number: '5494373447',
  ...overrides,
});
const mpesa: MobileWalletFa = {
  strategy_id: 91,
  fa_type: 'MOBILE_WALLET',
  wallet_provider_name: 'M-Pesa',
  wallet_provider_code: 'mpesa',
  mobile_number: '254700000001',
};

const STRATEGY_2_FA =
  'account_number:5494373447.branch_name:Indigo Branch.branch_code:indigo.bank_name:Bank 2.bank_code:dfsp2.fa_type:BANK';

// The bundled YAML (reference/g2p-connect/specs/release/yaml/mapper_core_api_v1.0.0.yaml), transcribed
// by hand: vitest has no YAML parser or JSON Schema validator among the project's dependencies.
const SPEC = {
  envelope: { properties: ['signature', 'header', 'message'], required: ['header', 'message'] },
  header: {
    properties: [
      'version',
      'message_id',
      'message_ts',
      'action',
      'sender_id',
      'sender_uri',
      'receiver_id',
      'total_count',
      'is_msg_encrypted',
      'meta',
    ],
    required: ['message_id', 'message_ts', 'action', 'sender_id', 'total_count'],
  },
  items: {
    link: {
      properties: ['reference_id', 'timestamp', 'id', 'fa', 'name', 'phone_number', 'additional_info', 'locale'],
      required: ['reference_id', 'timestamp', 'id', 'fa'],
    },
    update: {
      properties: ['reference_id', 'timestamp', 'id', 'fa', 'name', 'phone_number', 'additional_info', 'locale'],
      required: ['reference_id', 'timestamp', 'id', 'fa'],
    },
    resolve: {
      properties: ['reference_id', 'timestamp', 'fa', 'id', 'name', 'scope', 'additional_info', 'locale'],
      required: ['reference_id', 'timestamp'],
    },
    unlink: {
      properties: ['reference_id', 'timestamp', 'id', 'fa', 'additional_info', 'locale'],
      required: ['reference_id', 'timestamp', 'id'],
    },
  },
} as const;

const asRecord = (value: unknown) => value as Record<string, any>;

function expectShape(
  value: Record<string, unknown>,
  shape: { properties: readonly string[]; required: readonly string[] },
  where: string,
): void {
  for (const key of shape.required) expect(value, `${where} lacks required ${key}`).toHaveProperty(key);
  for (const key of Object.keys(value)) expect(shape.properties, `${where} has undeclared ${key}`).toContain(key);
}

/** The request checks the schema makes, done by hand. */
function expectSpecValid(operation: Operation, body: unknown): void {
  const envelope = asRecord(body);
  expectShape(envelope, SPEC.envelope, 'envelope');
  expect(typeof envelope.signature).toBe('string');
  expectShape(envelope.header, SPEC.header, 'header');
  expect(envelope.header.action).toBe(operation); // the logical action, not the spec's typo "link"
  expect(Number.isInteger(envelope.header.total_count)).toBe(true);
  expect(typeof envelope.header.is_msg_encrypted).toBe('boolean');
  expect(envelope.header.message_ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
  expectShape(
    envelope.message,
    { properties: ['transaction_id', `${operation}_request`], required: ['transaction_id', `${operation}_request`] },
    'message',
  );
  expect(envelope.message.transaction_id.length).toBeLessThanOrEqual(99);
  const list = envelope.message[`${operation}_request`] as Record<string, any>[];
  expect(Array.isArray(list)).toBe(true);
  expect(envelope.header.total_count).toBe(list.length);
  for (const item of list) {
    expectShape(item, SPEC.items[operation], `${operation} item`);
    for (const key of ['reference_id', 'timestamp', 'id', 'fa', 'name', 'phone_number'])
      if (key in item) expect(typeof item[key]).toBe('string');
    if ('locale' in item) expect(item.locale).toMatch(/^[a-z]{3}$/);
    if ('scope' in item) expect(['yes_no', 'details']).toContain(item.scope);
    if ('additional_info' in item) {
      for (const entry of item.additional_info) {
        expect(Object.keys(entry).sort()).toEqual(['name', 'value']);
        expect(typeof entry.name).toBe('string');
        expect(['string', 'number', 'boolean', 'object']).toContain(typeof entry.value);
        expect(entry.value).not.toBeNull();
        expect(Array.isArray(entry.value)).toBe(false);
      }
    }
  }
  expect(() => canonicalJson(body)).not.toThrow(); // also refuses any float
}

function results(operation: Operation, body: unknown, items: readonly ProtocolItem[]): ItemResult[] {
  const parsed = g2pConnectProtocol.parseResponse(operation, body, items);
  if (isBatchFailure(parsed)) throw new Error(`unexpected batch failure: ${parsed.message}`);
  return parsed;
}

function failure(operation: Operation, body: unknown, items: readonly ProtocolItem[] = []): BatchFailure {
  const parsed = g2pConnectProtocol.parseResponse(operation, body, items);
  if (!isBatchFailure(parsed)) throw new Error('expected a batch failure');
  return parsed;
}

const byRef = (list: ItemResult[]) => new Map(list.map((r) => [r.reference_id, r]));

const LINK_ITEMS: LinkItem[] = [
  {
    reference_id: 'ref-000123-0001',
    id: 'token:8217353245@nationalId',
    fa: bank(),
    name: 'Gloria Macapagal',
    phone_number: '+745 9579222149',
    additional_info: [{ name: 'source', value: 'bulk-2025-01' }],
  },
  { reference_id: 'ref-000123-0002', id: 'token:5474889656@nationalId', fa: mpesa },
];

describe('g2p-connect paths', () => {
  it('uses the spec’s sync paths', () => {
    expect(g2pConnectProtocol.name).toBe('g2p-connect');
    expect(g2pConnectProtocol.defaultPaths).toEqual({
      link: '/mapper/sync/link',
      update: '/mapper/sync/update',
      resolve: '/mapper/sync/resolve',
      unlink: '/mapper/sync/unlink',
    });
  });
});

describe('g2p-connect buildRequest', () => {
  it('reproduces the documented sync link request (g2p-connect.md §5.1)', () => {
    const body = g2pConnectProtocol.buildRequest('link', LINK_ITEMS, ctx);
    // §5.1 with: the body signature empty (the real one is the HTTP header), no receiver_id
    // (optional, unknown to a profile), and strategy_id added to additional_info.
    expect(body).toEqual({
      signature: '',
      header: {
        version: '1.0.0',
        message_id: 'msg-7f3a1c2e-0001',
        message_ts: '2025-01-15T10:00:00+00:00',
        action: 'link',
        sender_id: 'sparctl.socialwelfare.gov',
        total_count: 2,
        is_msg_encrypted: false,
      },
      message: {
        transaction_id: 'txn-20250115-000123',
        link_request: [
          {
            reference_id: 'ref-000123-0001',
            timestamp: '2025-01-15T10:00:00+00:00',
            id: 'token:8217353245@nationalId',
            fa: 'account:5494373447@indigo.dfsp2.bank_acc',
            name: 'Gloria Macapagal',
            phone_number: '+745 9579222149',
            additional_info: [
              { name: 'strategy_id', value: '90' },
              { name: 'source', value: 'bulk-2025-01' },
            ],
            locale: 'eng',
          },
          {
            reference_id: 'ref-000123-0002',
            timestamp: '2025-01-15T10:00:00+00:00',
            id: 'token:5474889656@nationalId',
            fa: 'mobile:254700000001@mpesa',
            additional_info: [{ name: 'strategy_id', value: '91' }],
            locale: 'eng',
          },
        ],
      },
    });
    expectSpecValid('link', body);
  });

  it('builds every operation within the schema, with the logical action', () => {
    const strategy2: LinkItem = {
      reference_id: 'u1',
      id: 'token:8217353245@nationalId',
      fa: bank({ strategy_id: 2 }),
      name: 'Gloria Macapagal',
    };
    for (const operation of ['link', 'update'] as const) {
      const body = asRecord(g2pConnectProtocol.buildRequest(operation, [strategy2], ctx));
      expectSpecValid(operation, body);
      expect(body.message[`${operation}_request`][0].fa).toBe(STRATEGY_2_FA);
      expect(body.message[`${operation}_request`][0].additional_info).toEqual([{ name: 'strategy_id', value: '2' }]);
    }

    const resolveItems: ResolveItem[] = [
      { reference_id: 'ref-000124-0001', id: 'token:8217353245@nationalId', scope: 'details' },
      { reference_id: 'ref-000124-0002', id: 'token:0000000000@nationalId', scope: 'yes_no' },
    ];
    const resolve = asRecord(
      g2pConnectProtocol.buildRequest('resolve', resolveItems, {
        ...ctx,
        transactionId: 'txn-20250115-000124',
        timestamp: '2025-01-15T10:05:00+00:00',
      }),
    );
    expectSpecValid('resolve', resolve);
    // §5.2's request message, exactly.
    expect(resolve.message).toEqual({
      transaction_id: 'txn-20250115-000124',
      resolve_request: [
        {
          reference_id: 'ref-000124-0001',
          timestamp: '2025-01-15T10:05:00+00:00',
          id: 'token:8217353245@nationalId',
          scope: 'details',
          locale: 'eng',
        },
        {
          reference_id: 'ref-000124-0002',
          timestamp: '2025-01-15T10:05:00+00:00',
          id: 'token:0000000000@nationalId',
          scope: 'yes_no',
          locale: 'eng',
        },
      ],
    });

    const unlinkItems: UnlinkItem[] = [
      { reference_id: 'ref-000126-0001', id: 'token:5474889656@nationalId' },
      { reference_id: 'ref-000126-0002', id: 'token:8217353245@nationalId', fa: 'account:5494373447@indigo.dfsp2.bank_acc' },
    ];
    const unlink = asRecord(
      g2pConnectProtocol.buildRequest('unlink', unlinkItems, {
        ...ctx,
        transactionId: 'txn-20250115-000126',
        timestamp: '2025-01-15T10:15:00+00:00',
      }),
    );
    expectSpecValid('unlink', unlink);
    // §5.4's request message, plus a second item that names the pair to remove.
    expect(unlink.message).toEqual({
      transaction_id: 'txn-20250115-000126',
      unlink_request: [
        { reference_id: 'ref-000126-0001', timestamp: '2025-01-15T10:15:00+00:00', id: 'token:5474889656@nationalId', locale: 'eng' },
        {
          reference_id: 'ref-000126-0002',
          timestamp: '2025-01-15T10:15:00+00:00',
          id: 'token:8217353245@nationalId',
          fa: 'account:5494373447@indigo.dfsp2.bank_acc',
          locale: 'eng',
        },
      ],
    });
  });

  it('turns SPAR-style additional_info objects into name/value entries, keeping a strategy_id the caller gave', () => {
    const item: LinkItem = {
      reference_id: 'a',
      id: 'X',
      fa: bank(),
      additional_info: [{ source: 'sparctl', batch: 7, flags: { pilot: true } }],
    };
    const body = asRecord(g2pConnectProtocol.buildRequest('link', [item], ctx));
    expect(body.message.link_request[0].additional_info).toEqual([
      { name: 'strategy_id', value: '90' },
      { name: 'source', value: 'sparctl' },
      { name: 'batch', value: 7 },
      { name: 'flags', value: { pilot: true } },
    ]);
    expect(item.additional_info).toEqual([{ source: 'sparctl', batch: 7, flags: { pilot: true } }]);

    const own = asRecord(
      g2pConnectProtocol.buildRequest('link', [{ ...item, additional_info: [{ name: 'strategy_id', value: '2' }] }], ctx),
    );
    expect(own.message.link_request[0].additional_info).toEqual([{ name: 'strategy_id', value: '2' }]);
  });

  it('refuses what the request cannot carry: an unknown strategy, a null or list additional_info value', () => {
    expect(
      thrownBy(UsageError, () =>
        g2pConnectProtocol.buildRequest('update', [{ reference_id: 'a', id: 'X', fa: bank({ strategy_id: 77 }) }], ctx),
      ).code,
    ).toBe('request.unknown_strategy');
    for (const value of [null, ['a']]) {
      const error = thrownBy(UsageError, () =>
        g2pConnectProtocol.buildRequest('link', [{ reference_id: 'a', id: 'X', fa: bank(), additional_info: [{ note: value }] }], ctx),
      );
      expect(error.code).toBe('request.additional_info_unrepresentable');
    }
  });
});

// g2p-connect.md §5.1's response.
const LINK_RESPONSE = {
  signature: null,
  header: {
    version: '1.0.0',
    message_id: 'msg-spar-9b21',
    message_ts: '2025-01-15T10:00:01+00:00',
    action: 'on-link',
    status: 'succ',
    status_reason_code: null,
    status_reason_message: null,
    total_count: 2,
    completed_count: 2,
    sender_id: 'spar.socialwelfare.gov',
    receiver_id: 'sparctl.socialwelfare.gov',
    is_msg_encrypted: false,
  },
  message: {
    transaction_id: 'txn-20250115-000123',
    correlation_id: 'corr-55d0',
    link_response: [
      {
        reference_id: 'ref-000123-0001',
        timestamp: '2025-01-15T10:00:01+00:00',
        fa: 'account:5494373447@indigo.dfsp2.bank_acc',
        status: 'succ',
        status_reason_code: null,
        status_reason_message: null,
        locale: 'eng',
      },
      {
        reference_id: 'ref-000123-0002',
        timestamp: '2025-01-15T10:00:01+00:00',
        fa: 'mobile:254700000001@mpesa',
        status: 'rjct',
        status_reason_code: 'rjct.reference_id.duplicate',
        status_reason_message: 'ID and FA are already mapped',
        locale: 'eng',
      },
    ],
  },
};
const header = (extra: Record<string, unknown> = {}) => ({ ...LINK_RESPONSE.header, ...extra });
const envelope = (operation: Operation, list: unknown[], extra: Record<string, unknown> = {}) => ({
  signature: null,
  header: header({ action: `on-${operation}`, ...extra }),
  message: { transaction_id: 't', correlation_id: 'c', [`${operation}_response`]: list },
});

describe('g2p-connect parseResponse: the documented answers', () => {
  it('reads §5.1: linked, and already linked', () => {
    const parsed = results('link', LINK_RESPONSE, LINK_ITEMS);
    expect(parsed).toEqual([
      {
        reference_id: 'ref-000123-0001',
        id: 'token:8217353245@nationalId',
        status: 'succ',
        status_reason_code: null,
        status_reason_message: null,
        fa: 'account:5494373447@indigo.dfsp2.bank_acc',
      },
      {
        reference_id: 'ref-000123-0002',
        id: 'token:5474889656@nationalId',
        status: 'rjct',
        status_reason_code: 'rjct.reference_id.duplicate',
        status_reason_message: 'ID and FA are already mapped',
        fa: 'mobile:254700000001@mpesa',
      },
    ]);
    expect(parsed.map((r) => classifyResult('link', r))).toEqual(['linked', 'already_linked']);
  });

  it('accepts any action in the answer: the spec’s "on-search" typo and SPAR 0.1’s bare "link"', () => {
    for (const action of ['on-search', 'link', 'whatever']) {
      expect(results('link', { ...LINK_RESPONSE, header: header({ action }) }, LINK_ITEMS)).toHaveLength(2);
    }
  });

  it('correlates by reference_id whatever the order, and ignores answers it cannot place', () => {
    const shuffled = [...LINK_RESPONSE.message.link_response].reverse();
    const body = {
      ...LINK_RESPONSE,
      message: { ...LINK_RESPONSE.message, link_response: [{ reference_id: 'ref-other', status: 'succ' }, 3, ...shuffled] },
    };
    const parsed = byRef(results('link', body, LINK_ITEMS));
    expect([...parsed.keys()].sort()).toEqual(['ref-000123-0001', 'ref-000123-0002']);
    expect(parsed.get('ref-000123-0001')).toMatchObject({ id: 'token:8217353245@nationalId', status: 'succ' });
    expect(parsed.get('ref-000123-0002')).toMatchObject({ id: 'token:5474889656@nationalId', status: 'rjct' });
  });

  it('reads §5.2 resolve: the FA string for details, not_linked_to_id as not found', () => {
    const items: ResolveItem[] = [
      { reference_id: 'ref-000124-0001', id: 'token:8217353245@nationalId', scope: 'details' },
      { reference_id: 'ref-000124-0002', id: 'token:0000000000@nationalId', scope: 'yes_no' },
    ];
    const body = envelope('resolve', [
      {
        reference_id: 'ref-000124-0002',
        timestamp: '2025-01-15T10:05:01+00:00',
        status: 'succ',
        status_reason_code: 'succ.fa.not_linked_to_id',
        status_reason_message: "ID doesn't exist, please link first",
        locale: 'eng',
      },
      {
        reference_id: 'ref-000124-0001',
        timestamp: '2025-01-15T10:05:01+00:00',
        id: 'token:8217353245@nationalId',
        fa: 'account:5494373447@indigo.dfsp2.bank_acc',
        account_provider_info: { name: 'Bank 2', code: 'dfsp2', subcode: 'indigo' },
        status: 'succ',
        status_reason_code: 'succ.id.active',
        locale: 'eng',
      },
    ]);
    const parsed = byRef(results('resolve', body, items));
    expect(parsed.get('ref-000124-0001')).toEqual({
      reference_id: 'ref-000124-0001',
      id: 'token:8217353245@nationalId',
      status: 'succ',
      status_reason_code: 'succ.id.active',
      status_reason_message: null,
      fa: 'account:5494373447@indigo.dfsp2.bank_acc',
    });
    expect(parsed.get('ref-000124-0002')).toMatchObject({
      id: 'token:0000000000@nationalId',
      status_reason_code: 'succ.fa.not_linked_to_id',
      fa: null,
    });
    expect(items.map((item) => classifyResult('resolve', parsed.get(item.reference_id)!))).toEqual(['found', 'not_found']);
  });

  it('reads §5.3 update and §5.4 unlink', () => {
    const update = results(
      'update',
      envelope('update', [
        {
          reference_id: 'ref-000125-0001',
          timestamp: '2025-01-15T10:10:01+00:00',
          id: 'token:8217353245@nationalId',
          status: 'succ',
          locale: 'eng',
        },
      ]),
      [{ reference_id: 'ref-000125-0001', id: 'token:8217353245@nationalId', fa: bank() }],
    );
    expect(update).toEqual([
      {
        reference_id: 'ref-000125-0001',
        id: 'token:8217353245@nationalId',
        status: 'succ',
        status_reason_code: null,
        status_reason_message: null,
      },
    ]);
    expect(classifyResult('update', update[0]!)).toBe('updated');

    const unlink = results(
      'unlink',
      envelope('unlink', [
        {
          reference_id: 'ref-000126-0001',
          timestamp: '2025-01-15T10:15:01+00:00',
          id: 'token:5474889656@nationalId',
          status: 'succ',
          locale: 'eng',
        },
      ]),
      [{ reference_id: 'ref-000126-0001', id: 'token:5474889656@nationalId' }],
    );
    expect(classifyResult('unlink', unlink[0]!)).toBe('unlinked');
  });
});

describe('g2p-connect parseResponse: reason codes mapped to SPAR v2’s', () => {
  const resolveItems: ResolveItem[] = ['a', 'b', 'c', 'd', 'e'].map((ref) => ({ reference_id: ref, id: `ID_${ref}`, scope: 'details' }));

  it('resolve: succ.id.not_found and succ.fa.not_found read as not found; active and inactive as found', () => {
    const parsed = byRef(
      results(
        'resolve',
        envelope('resolve', [
          {
            reference_id: 'a',
            status: 'succ',
            status_reason_code: 'succ.id.not_found',
            status_reason_message: 'Mapping not found against given ID.',
          },
          { reference_id: 'b', status: 'succ', status_reason_code: 'succ.fa.not_found', status_reason_message: null },
          { reference_id: 'c', status: 'succ', status_reason_code: 'succ.id.inactive', fa: 'x@y' },
          { reference_id: 'd', status: 'succ', status_reason_code: 'succ.fa.active', fa: 'x@y' },
          { reference_id: 'e', status: 'rjct', status_reason_code: 'rjct.resolve_type.not_supported' },
        ]),
        resolveItems,
      ),
    );
    expect(parsed.get('a')).toMatchObject({
      status_reason_code: 'succ.fa.not_linked_to_id',
      status_reason_message: 'Mapping not found against given ID. (server code succ.id.not_found)',
    });
    expect(parsed.get('b')).toMatchObject({
      status_reason_code: 'succ.fa.not_linked_to_id',
      status_reason_message: '(server code succ.fa.not_found)',
    });
    expect(parsed.get('c')).toMatchObject({ status_reason_code: 'succ.id.inactive', fa: 'x@y' });
    expect(resolveItems.map((item) => classifyResult('resolve', parsed.get(item.reference_id)!))).toEqual([
      'not_found',
      'not_found',
      'found',
      'found',
      'rejected',
    ]);
  });

  it('link: SPAR 0.1’s duplicate-ID rejection reads as already linked, even under a rejected header', () => {
    // SPAR 0.1 marks the header rjct.errors.too_many when every item failed, and still lists them.
    const body = envelope(
      'link',
      [
        {
          reference_id: 'ref-000123-0001',
          status: 'rjct',
          status_reason_code: 'rjct.id.invalid',
          status_reason_message: "Duplicate ID exists. Use 'update' instead.",
        },
        { reference_id: 'ref-000123-0002', status: 'rjct', status_reason_code: 'rjct.id.invalid', status_reason_message: 'ID is null' },
      ],
      {
        action: 'link',
        status: 'rjct',
        status_reason_code: 'rjct.errors.too_many',
        status_reason_message: 'All requests in transaction failed.',
      },
    );
    const parsed = results('link', body, LINK_ITEMS);
    expect(parsed[0]).toMatchObject({
      status_reason_code: 'rjct.reference_id.duplicate',
      status_reason_message: "Duplicate ID exists. Use 'update' instead. (server code rjct.id.invalid)",
    });
    expect(parsed[1]).toMatchObject({ status_reason_code: 'rjct.id.invalid', status_reason_message: 'ID is null' });
    expect(parsed.map((r) => classifyResult('link', r))).toEqual(['already_linked', 'rejected']);
  });

  it('update: a missing ID reads as not found; the spec’s repeated reference_id does not', () => {
    const items = ['a', 'b', 'c'].map((ref) => ({ reference_id: ref, id: `ID_${ref}`, fa: bank() }));
    const parsed = byRef(
      results(
        'update',
        envelope('update', [
          {
            reference_id: 'a',
            status: 'rjct',
            status_reason_code: 'rjct.id.invalid',
            status_reason_message: "Mapping doesnt exist against given ID. Use 'link' instead.",
          },
          {
            reference_id: 'b',
            status: 'rjct',
            status_reason_code: 'rjct.reference_id.duplicate',
            status_reason_message: 'ID doesnt exist please link first',
          },
          {
            reference_id: 'c',
            status: 'rjct',
            status_reason_code: 'rjct.reference_id.duplicate',
            status_reason_message: 'reference_id repeated in transaction',
          },
        ]),
        items,
      ),
    );
    expect(parsed.get('a')!.status_reason_code).toBe('rjct.reference_id.duplicate');
    expect(parsed.get('b')).toMatchObject({
      status_reason_code: 'rjct.reference_id.duplicate',
      status_reason_message: 'ID doesnt exist please link first',
    });
    expect(parsed.get('c')).toMatchObject({
      status_reason_code: 'rjct.reference_id.invalid',
      status_reason_message: 'reference_id repeated in transaction (server code rjct.reference_id.duplicate)',
    });
    expect(['a', 'b', 'c'].map((ref) => classifyResult('update', parsed.get(ref)!))).toEqual(['not_found', 'not_found', 'rejected']);
  });

  it('unlink: codes pass verbatim (the spec has no not-found code; SPAR’s message is recognised)', () => {
    const items = [
      { reference_id: 'a', id: 'ID_a' },
      { reference_id: 'b', id: 'ID_b' },
    ];
    const parsed = results(
      'unlink',
      envelope('unlink', [
        {
          reference_id: 'a',
          status: 'rjct',
          status_reason_code: 'rjct.id.invalid',
          status_reason_message: 'ID doesnt exist please link first',
        },
        { reference_id: 'b', status: 'rjct', status_reason_code: 'rjct.beneficiary_name.invalid', status_reason_message: null },
      ]),
      items,
    );
    expect(parsed.map((r) => r.status_reason_code)).toEqual(['rjct.id.invalid', 'rjct.beneficiary_name.invalid']);
    expect(parsed.map((r) => classifyResult('unlink', r))).toEqual(['not_found', 'rejected']);
  });

  it('rcvd and pdng items are not done, and may yet be applied: the request is pending (outcome unknown), never rejected', () => {
    expect(
      failure(
        'link',
        envelope(
          'link',
          [
            { reference_id: 'ref-000123-0001', status: 'rcvd', status_reason_code: null },
            { reference_id: 'ref-000123-0002', status: 'pdng', status_reason_code: 'rjct.unknown.retry', status_reason_message: 'queued' },
          ],
          { status: 'pdng' },
        ),
        LINK_ITEMS,
      ),
    ).toMatchObject({ kind: 'pending', message: '2 of its 2 records are not done yet (the mapper said rcvd or pdng)' });
  });
});

describe('g2p-connect parseResponse: batch failures', () => {
  it('header rjct with a header reason code refuses the whole batch', () => {
    const cases: [string, BatchFailure['kind']][] = [
      ['rjct.jwt.invalid', 'signature'],
      ['rjct.signature.invalid', 'signature'],
      ['rjct.action.not_supported', 'validation'],
      ['rjct.version.invalid', 'validation'],
      ['rjct.message_ts.invalid', 'validation'],
      ['rjct.total_count.limit_exceeded', 'validation'],
      ['rjct.errors.too_many', 'validation'], // without item results there is nothing else to read
    ];
    for (const [code, kind] of cases) {
      const outcome = failure(
        'link',
        { signature: null, header: header({ status: 'rjct', status_reason_code: code, status_reason_message: 'no' }), message: {} },
        LINK_ITEMS,
      );
      expect(outcome).toEqual({ failure: true, kind, code, message: 'no' });
    }
    expect(failure('link', { header: header({ status: 'rjct', status_reason_code: null }) })).toMatchObject({
      kind: 'unknown',
      code: null,
    });
  });

  it('an async acknowledgement on a sync path is a failure (§3.4, §5.5)', () => {
    expect(
      failure('link', {
        message: {
          ack_status: 'NACK',
          timestamp: 't',
          error: { code: 'err.signature.invalid', message: 'bad signature' },
          correlation_id: null,
        },
      }),
    ).toEqual({ failure: true, kind: 'signature', code: 'err.signature.invalid', message: 'bad signature' });
    expect(
      failure('link', { message: { ack_status: 'ERR', timestamp: 't', error: { code: 'err.request.bad', message: 'bad' } } }),
    ).toMatchObject({ kind: 'validation', code: 'err.request.bad' });
    expect(failure('link', { message: { ack_status: 'ACK', timestamp: 't', correlation_id: 'corr-55d0', error: null } }).message).toMatch(
      /asynchronous/,
    );
  });

  it('never throws on a body that is not the envelope', () => {
    const bodies: unknown[] = [
      undefined,
      null,
      '',
      'pong',
      0,
      [],
      [LINK_RESPONSE],
      {},
      { signature: 'x' },
      { header: [] },
      { header: header() },
      { header: header(), message: 'x' },
      { header: header(), message: { link_response: {} } },
      { header: header(), message: { resolve_response: [] } },
      { header: header({ status: 'rcvd' }), message: {} },
      { message: { ack_status: 7 } },
      { errors: [{ code: 'G2P-AUT-401', message: 'Unauthorized' }] },
      { errors: 'x' },
    ];
    for (const body of bodies) {
      const outcome = failure('link', body, LINK_ITEMS);
      expect(outcome.kind).toBe('unknown');
      expect(outcome.message).toBeTruthy();
    }
  });

  it('tolerates missing and unknown fields in an otherwise valid answer', () => {
    const parsed = results(
      'resolve',
      {
        header: {},
        message: {
          resolve_response: [{ reference_id: 'a', status: 'rjct', status_reason_code: ['x'], fa: 5, additional_info: {}, extra: true }],
        },
      },
      [{ reference_id: 'a', id: 'ID_a', scope: 'yes_no' }],
    );
    expect(parsed).toEqual([
      {
        reference_id: 'a',
        id: 'ID_a',
        status: 'rjct',
        status_reason_code: null,
        status_reason_message: null,
        fa: null,
      },
    ]);
  });

  it('an item without a status, or with one the spec does not have, is no result: the caller reads it back', () => {
    const items = [
      { reference_id: 'a', id: 'ID_a', scope: 'details' as const },
      { reference_id: 'b', id: 'ID_b', scope: 'details' as const },
    ];
    const parsed = results(
      'resolve',
      { header: {}, message: { resolve_response: [{ reference_id: 'a' }, { reference_id: 'b', status: 'ok' }] } },
      items,
    );
    expect(parsed).toEqual([]);
  });

  it('an answer whose result names another ID than the one sent under its reference is refused whole', () => {
    const items = [
      { reference_id: 'a', id: 'ID_a', scope: 'details' as const },
      { reference_id: 'b', id: 'ID_b', scope: 'details' as const },
    ];
    const swapped = {
      header: {},
      message: {
        resolve_response: [
          { reference_id: 'a', id: 'ID_b', status: 'succ', fa: 'token:b@x' },
          { reference_id: 'b', id: 'ID_a', status: 'succ', fa: 'token:a@x' },
        ],
      },
    };
    expect(failure('resolve', swapped, items)).toMatchObject({ kind: 'unknown', message: expect.stringMatching(/names another ID/) });
  });
});

describe('strategyIdOf', () => {
  it('reads the strategy id from either additional_info shape', () => {
    expect(strategyIdOf([{ strategy_id: 2 }])).toBe(2);
    expect(strategyIdOf([{ name: 'strategy_id', value: '4' }])).toBe(4);
    expect(
      strategyIdOf([
        { name: 'source', value: 'x' },
        { name: 'strategy_id', value: 3 },
      ]),
    ).toBe(3);
    expect(strategyIdOf([{ strategy_id: 'abc' }])).toBeUndefined();
    expect(strategyIdOf([{ strategy_id: 2.5 }])).toBeUndefined();
    expect(strategyIdOf([])).toBeUndefined();
    expect(strategyIdOf(null)).toBeUndefined();
    expect(strategyIdOf('x')).toBeUndefined();
  });
});
