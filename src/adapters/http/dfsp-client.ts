import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { UnavailableError } from '../../core/errors.js';
import type { DfspData } from '../../core/mapping.js';
import { redactUrl } from '../../config/settings.js';
import { holdUrlSecrets, redactSecretsIn } from '../../config/redact.js';
import { transportError, urlWithPath } from './http-mapper.js';
import { tlsDispatcher } from './tls.js';

/**
 * DFSP reference data from SPAR's bene-portal API (research/spar-api.md §8.3): read-only
 * `POST /dfsp/fetch-banks`, `/dfsp/fetch-branches`, `/dfsp/fetch-wallet-service-providers`
 * in the G2 envelope. Branches name their bank by id; the answer is turned into codes.
 */
export async function fetchDfsp(
  baseUrl: string,
  options: { sender: string; timeoutMs: number; caFile?: string | undefined; insecure?: boolean | undefined },
): Promise<DfspData> {
  // A gateway key in the URL goes with every request, and the bene-portal may echo it in an error.
  holdUrlSecrets(baseUrl);
  const dispatcher = tlsDispatcher(options);
  const call = async (path: string): Promise<Record<string, unknown>> => {
    const url = urlWithPath(baseUrl, path).toString();
    const body = JSON.stringify({
      request_header: {
        sender_app_mnemonic: options.sender,
        sender_app_url: '',
        request_id: randomUUID(),
        request_timestamp: new Date().toISOString(),
      },
      request_body: { request_payload: {} },
    });
    let status: number;
    let text: string;
    try {
      const response = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
        ...(dispatcher ? { dispatcher } : {}),
      });
      status = response.statusCode;
      text = redactSecretsIn(await response.body.text());
    } catch (error) {
      throw transportError(error, `POST ${redactUrl(url)}`, options.timeoutMs);
    }
    const parsed = (() => {
      try {
        return JSON.parse(text) as {
          response_header?: { response_status?: string; response_error_message?: string };
          response_body?: { response_payload?: Record<string, unknown> };
        };
      } catch {
        return undefined;
      }
    })();
    if (status !== 200 || parsed?.response_header?.response_status !== 'SUCCESS' || parsed.response_body?.response_payload === undefined) {
      throw new UnavailableError(
        'dfsp.fetch_failed',
        `POST ${redactUrl(url)}: HTTP ${status}${parsed?.response_header?.response_error_message ? `: ${parsed.response_header.response_error_message}` : ''}`,
        {
          hint: 'dfspUrl must be the bene-portal API base, e.g. https://spar.example.org/api/bene-portal',
        },
      );
    }
    return parsed.response_body.response_payload;
  };
  const list = (payload: Record<string, unknown>, key: string) =>
    Array.isArray(payload[key]) ? (payload[key] as Record<string, unknown>[]) : [];
  const text = (value: unknown) => (typeof value === 'string' ? value : String(value ?? ''));
  const banks = list(await call('/dfsp/fetch-banks'), 'banks');
  const branches = list(await call('/dfsp/fetch-branches'), 'branches');
  const wallets = list(await call('/dfsp/fetch-wallet-service-providers'), 'wallet_service_providers');
  const bankCodeById = new Map(banks.map((bank) => [bank['id'], text(bank['bank_code'])]));
  return {
    banks: banks.map((bank) => ({ code: text(bank['bank_code']), name: text(bank['bank_name']) })),
    branches: branches.flatMap((branch) => {
      const bankCode = bankCodeById.get(branch['bank_id']);
      return bankCode === undefined ? [] : [{ bank_code: bankCode, code: text(branch['branch_code']), name: text(branch['branch_name']) }];
    }),
    wallet_providers: wallets.flatMap((wallet) => {
      const type = text(wallet['wallet_type']);
      return type === 'MOBILE_WALLET' || type === 'EMAIL_WALLET'
        ? [{ code: text(wallet['sp_code']), name: text(wallet['sp_name']), wallet_type: type }]
        : [];
    }),
  };
}
