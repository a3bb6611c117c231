/**
 * The requests sparctl sends in the G2P Connect profile validate against the spec's own
 * schemas (the bundled mapper_core_api v1.0.0 YAML in test/fixtures/g2p-connect/), except
 * where the spec contradicts itself (research/g2p-connect.md §2.1): the sync update, unlink
 * and resolve requests declare `action: link`; sparctl sends the logical action.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { encryptMessage, txnStatusRequest } from '../../src/adapters/http/connect-async.js';
import { g2pConnectProtocol } from '../../src/adapters/http/protocols/g2p-connect.js';
import type { ProtocolItem } from '../../src/adapters/http/protocol.js';
import type { Operation } from '../../src/core/results.js';
import { DEFAULT_STRATEGIES } from '../../src/core/strategy/strategy.js';
import { bank } from '../helpers/records.js';

const spec = parse(readFileSync(new URL('../fixtures/g2p-connect/mapper_core_api_v1.0.0.yaml', import.meta.url), 'utf8')) as Record<
  string,
  unknown
>;
// OpenAPI 3.0 schemas: unknown keywords (example, nullable …) and formats are not checked here.
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false, validateSchema: false });
ajv.addSchema(spec, 'spec');
const pointer = (path: string) => path.replace(/~/g, '~0').replace(/\//g, '~1');
const requestSchema = (path: string) =>
  ajv.compile({ $ref: `spec#/paths/${pointer(path)}/post/requestBody/content/application~1json/schema` });

const context = {
  requestId: 'msg-1',
  transactionId: 'txn-1',
  timestamp: '2026-11-21T09:00:00.000Z',
  sender: 'sparctl',
  strategies: new Map(DEFAULT_STRATEGIES.map((s) => [s.id, s])),
};
const itemsFor = (operation: Operation): ProtocolItem[] => {
  if (operation === 'link' || operation === 'update')
    return [{ reference_id: 'r1', id: 'BENE-1', fa: bank('0012345'), name: 'Ana Santos', phone_number: '+639171234567' }];
  if (operation === 'resolve') return [{ reference_id: 'r1', id: 'BENE-1', scope: 'details' }];
  return [{ reference_id: 'r1', id: 'BENE-1' }];
};

/** Errors the spec's own typos cause: the sync action enums (§2.1). */
const notTypos = (operation: Operation, errors: readonly ErrorObject[] | null | undefined) =>
  (errors ?? []).filter((error) => !(operation !== 'link' && error.instancePath === '/header/action' && error.keyword === 'enum'));

describe('G2P Connect requests against the spec schemas', () => {
  for (const operation of ['link', 'update', 'unlink', 'resolve'] as const) {
    it(`${operation}: the sync request and the async one (with sender_uri, and encrypted) validate`, async () => {
      const body = g2pConnectProtocol.buildRequest(operation, itemsFor(operation), context) as {
        header: Record<string, unknown>;
        message: unknown;
      };
      const sync = requestSchema(`/mapper/sync/${operation}`);
      expect(sync(body) ? [] : notTypos(operation, sync.errors)).toEqual([]);

      const asyncBody = { ...body, header: { ...body.header, sender_uri: 'https://sparctl.example.org/callbacks' } };
      const async = requestSchema(`/mapper/${operation}`);
      expect(async(asyncBody) ? [] : async.errors).toEqual([]);

      const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const encrypted = {
        ...asyncBody,
        header: { ...asyncBody.header, is_msg_encrypted: true },
        message: await encryptMessage(body.message, publicKey, 'mapper-key-1'),
      };
      expect(async(encrypted) ? [] : async.errors).toEqual([]);
    });
  }

  it('a request the schema forbids is caught (the check can fail)', () => {
    const body = g2pConnectProtocol.buildRequest('link', itemsFor('link'), context) as {
      header: Record<string, unknown>;
      message: Record<string, unknown>;
    };
    const check = requestSchema('/mapper/sync/link');
    expect(check({ ...body, header: { ...body.header, message_id: undefined } })).toBe(false);
    expect(check({ ...body, message: { ...body.message, link_request: [{ reference_id: 'r1' }] } })).toBe(false);
  });

  it("txn/status, asked by the poller, validates but for the spec's ambiguous attribute_value", () => {
    // attribute_value is oneOf TransactionId | ReferenceIdList | CorrelationId, and the first and
    // last are both plain strings: no string can match exactly one, so the spec refuses every
    // lookup by transaction id. That contradiction aside, the request must validate.
    const spec = (errors: readonly ErrorObject[] | null | undefined) =>
      (errors ?? []).filter((error) => !error.instancePath.startsWith('/message/txnstatus_request/attribute_value'));
    for (const path of ['/mapper/txn/status', '/registry/sync/txn/status']) {
      const check = requestSchema(path);
      const valid = check(txnStatusRequest('link', 'txn-1', 'sparctl'));
      const left = valid ? [] : spec(check.errors);
      // With an unambiguous attribute_value the same request validates in full…
      const body = txnStatusRequest('link', 'txn-1', 'sparctl') as { message: { txnstatus_request: Record<string, unknown> } };
      const unambiguous = {
        ...body,
        message: {
          ...body.message,
          txnstatus_request: { ...body.message.txnstatus_request, attribute_type: 'reference_id_list', attribute_value: ['r1'] },
        },
      };
      expect(check(unambiguous) ? [] : check.errors).toEqual([]);
      // …and with the transaction id, what remains besides attribute_value is the oneOf at /message
      // trying EncryptedMessage too; a plain message otherwise passes:
      expect(
        left.filter(
          (error) =>
            !(
              error.instancePath === '/message' &&
              /EncryptedMessage|oneOf|required property '(header|ciphertext|encrypted_key|tag|iv)'/.test(
                `${error.schemaPath} ${error.message ?? ''}`,
              )
            ),
        ),
      ).toEqual([]);
    }
  });
});
