import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HttpMapper } from '../../src/adapters/http/http-mapper.js';
import { SparctlError } from '../../src/core/errors.js';
import type { LinkItem, ResolveItem, UnlinkItem } from '../../src/core/mapper.js';
import { classifyResult, type ItemResult, type Operation } from '../../src/core/results.js';
import { startSparV2Double } from '../helpers/spar-v2-double.js';

/**
 * The recorded SPAR 2.1.0 exchanges (spar-v2-observed.md §4), replayed through HttpMapper: the
 * same items, in the same order, against the double (signatures off). What the client reads from
 * each answer must be what the recorded answer says, item by item, matched by reference_id.
 */

interface Exchange {
  id: string;
  method: string;
  path: string;
  request: string;
  status: number;
  response: string;
}

const exchanges = JSON.parse(readFileSync(new URL('../fixtures/spar-v2-exchanges.json', import.meta.url), 'utf8')) as Exchange[];
// The ones a client can produce: well-formed requests of the four operations, in recorded order.
// (Signature cases, malformed bodies and hand-seeded legacy rows are covered elsewhere.)
const REPLAYED = ['01', '02', '03', '04', '05', '06', '07', '08', '09', '14', '16', '17', '18', '19', '20', '21', '28', '30'];

type RawItem = Record<string, unknown> & { reference_id: string };

function itemsOf(operation: Operation, raw: RawItem[]): (LinkItem | ResolveItem | UnlinkItem)[] {
  return raw.map((item) => {
    const base = { reference_id: item.reference_id, id: (item['id'] ?? '') as string };
    if (operation === 'resolve') return { ...base, scope: (item['scope'] ?? 'yes_no') as ResolveItem['scope'] };
    if (operation === 'unlink') return { ...base, ...(typeof item['fa'] === 'string' ? { fa: item['fa'] } : {}) };
    return {
      ...base,
      fa: item['fa'] as LinkItem['fa'],
      ...(item['name'] !== undefined ? { name: item['name'] as string } : {}),
      ...(item['phone_number'] !== undefined ? { phone_number: item['phone_number'] as string } : {}),
      ...(item['additional_info'] !== undefined ? { additional_info: item['additional_info'] as Record<string, unknown>[] } : {}),
    };
  });
}

describe('recorded SPAR 2.1.0 exchanges, replayed through the client', () => {
  it('reads every answer as the recording says', async () => {
    const double = await startSparV2Double();
    const mapper = await HttpMapper.create({
      profile: 'replay',
      mode: 'remote',
      protocol: 'spar-v2',
      baseUrl: double.url,
      senderAppMnemonic: 'sparctl',
      timeoutMs: 5_000,
      batchSize: 500,
      concurrency: 1,
    });
    try {
      let replayed = 0;
      for (const exchange of exchanges.filter((e) => REPLAYED.some((prefix) => e.id.startsWith(`${prefix}-`)))) {
        const operation = exchange.path.split('/').pop() as Operation;
        const request = JSON.parse(exchange.request) as { request_body: { request_payload: Record<string, RawItem[]> } };
        // A resolve by FA alone (res-20b) is not something sparctl sends: resolve is by ID.
        const expressible = (item: RawItem) => !(operation === 'resolve' && item['id'] === undefined && item['fa'] !== undefined);
        const rawItems = request.request_body.request_payload[`${operation}_request`]!;
        const skipped = new Set(rawItems.filter((item) => !expressible(item)).map((item) => item.reference_id));
        const items = itemsOf(operation, rawItems.filter(expressible));
        const recorded = JSON.parse(exchange.response) as {
          response_header: { response_status: string; response_error_code: string | null };
          response_body: { response_payload: Record<string, Record<string, unknown>[]> };
        };
        const call = () =>
          (mapper[operation] as (items: unknown[], c: { source: string }) => Promise<ItemResult[]>)(items, { source: 'replay' });
        replayed++;
        if (recorded.response_header.response_status === 'ERROR') {
          // A whole-request failure: the client must not invent per-item results.
          let caught: unknown;
          try {
            await call();
          } catch (error) {
            caught = error;
          }
          expect(caught, exchange.id).toBeInstanceOf(SparctlError);
          expect((caught as SparctlError).message, exchange.id).toContain(recorded.response_header.response_error_code!);
          continue;
        }
        const results = new Map((await call()).map((r) => [r.reference_id, r]));
        const expectedItems = recorded.response_body.response_payload[`${operation}_response`]!.filter(
          (item) => !skipped.has(item['reference_id'] as string),
        );
        expect(results.size, exchange.id).toBe(expectedItems.length);
        for (const expected of expectedItems) {
          const got = results.get(expected['reference_id'] as string);
          expect(got, `${exchange.id} ${String(expected['reference_id'])}`).toBeDefined();
          const want = {
            reference_id: expected['reference_id'] as string,
            id: got!.id,
            status: expected['status'] as ItemResult['status'],
            status_reason_code: expected['status_reason_code'] as string | null,
            status_reason_message: expected['status_reason_message'] as string | null,
          };
          expect({ status: got!.status, code: got!.status_reason_code, message: got!.status_reason_message }, exchange.id).toEqual({
            status: want.status,
            code: want.status_reason_code,
            message: want.status_reason_message,
          });
          expect(classifyResult(operation, got!), exchange.id).toBe(classifyResult(operation, want));
          if (operation === 'link') expect(got!.fa, exchange.id).toBe(expected['fa']);
          if (operation === 'resolve') expect(got!.fa ?? null, exchange.id).toEqual(expected['fa'] ?? null);
        }
      }
      expect(replayed).toBe(REPLAYED.length);
    } finally {
      await mapper.close();
      await double.close();
    }
  });
});
