import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID, type KeyObject } from 'node:crypto';
import { FlattenedEncrypt, flattenedDecrypt, type FlattenedJWE } from 'jose';
import { ConfigError } from '../../core/errors.js';
import { canonicalJson } from './canonical-json.js';
import { verifyDetached } from './signing.js';

/**
 * The asynchronous side of the G2P Connect mapper API (research/g2p-connect.md §3.4, §5.5,
 * §5.6, §6.5): a receiver for the mapper's callbacks, and the EncryptedMessage form of a
 * message. HttpMapper sends the requests; this waits for what comes back.
 */

/** The largest callback body read (64 MiB, as the largest answer). */
const MOST_CALLBACK_BYTES = 64 * 1024 * 1024;
/** Callback bodies received at once: whoever reaches the receiver may post, and each may be up to the limit above. */
const MOST_CALLBACKS_AT_ONCE = 8;

/** One callback as it arrived: its header and its (decrypted) message. */
export interface Callback {
  readonly header: Record<string, unknown>;
  readonly message: Record<string, unknown>;
}

export interface ReceiverOptions {
  /** host:port to listen on, e.g. 127.0.0.1:0 or 0.0.0.0:8443. */
  readonly listen: string;
  /** The URL the mapper must call (behind a proxy it differs from the listen address). */
  readonly publicUrl?: string;
  /** Our private key, for callbacks whose message is encrypted to us. */
  readonly decryptWith?: KeyObject;
  /** The mapper's signing keys: when given, a callback must carry a valid Signature header. */
  readonly verifyWith?: readonly KeyObject[];
}

/**
 * Receives `POST {sender_uri}/on-link` … callbacks. Each is matched to a waiting request by
 * `message.transaction_id` and answered with the spec's Ack: ACK when it was expected, NACK
 * (`rjct.transaction.id.invalid`) for a transaction nobody waits for, ERR for a body that is not
 * an envelope, an encryption that cannot be opened, or a signature that does not verify.
 */
export class CallbackReceiver {
  private readonly waiting = new Map<string, { resolve: (callback: Callback) => void; timer: NodeJS.Timeout }>();
  /** Callbacks that arrived before their request's Ack was read. */
  private readonly early = new Map<string, Callback>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly options: ReceiverOptions,
  ) {}

  static async start(options: ReceiverOptions): Promise<CallbackReceiver> {
    const { host, port } = listenAddress(options.listen);
    let receiver: CallbackReceiver | undefined;
    let receiving = 0;
    const server = createServer((request, response) => {
      // Bodies held at once are bounded too: each may be up to MOST_CALLBACK_BYTES.
      if (receiving >= MOST_CALLBACKS_AT_ONCE) {
        response.writeHead(503, { connection: 'close', 'retry-after': '1' }).end();
        request.destroy();
        return;
      }
      receiving++;
      let counted = true;
      const done = () => {
        if (counted) receiving--;
        counted = false;
      };
      request.once('close', done);
      const chunks: Buffer[] = [];
      let size = 0;
      request.on('data', (chunk: Buffer) => {
        size += chunk.length;
        // Whoever can reach the receiver may post to it: a body past the limit is not kept.
        if (size > MOST_CALLBACK_BYTES) {
          response.writeHead(413, { connection: 'close' }).end();
          request.destroy();
          return;
        }
        chunks.push(chunk);
      });
      request.on('end', () => {
        void receiver!.accept(Buffer.concat(chunks).toString('utf8'), request.headers['signature']).then((ack) => {
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ message: { ...ack, timestamp: new Date().toISOString() } }));
        });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) =>
        reject(new ConfigError('async.listen_failed', `cannot listen for callbacks on ${options.listen}: ${error.message}`)),
      );
      server.listen(port, host, () => resolve());
    });
    const address = server.address() as AddressInfo;
    const url = options.publicUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
    receiver = new CallbackReceiver(server, url.replace(/\/+$/, ''), options);
    return receiver;
  }

  /** The callback for this transaction, or undefined when none came within `timeoutMs`. */
  waitFor(transactionId: string, timeoutMs: number): Promise<Callback | undefined> {
    const early = this.early.get(transactionId);
    if (early) {
      this.early.delete(transactionId);
      return Promise.resolve(early);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        // No longer awaited: a late callback is refused (NACK), not acknowledged and kept forever.
        this.waiting.delete(transactionId);
        this.expected.delete(transactionId);
        resolve(undefined);
      }, timeoutMs);
      this.waiting.set(transactionId, { resolve: (callback) => resolve(callback), timer });
    });
  }

  /** Marks a transaction as awaited before its request is sent: its callback may beat the Ack. */
  expect(transactionId: string): void {
    this.expected.add(transactionId);
  }

  forget(transactionId: string): void {
    this.expected.delete(transactionId);
    this.early.delete(transactionId);
    const waiting = this.waiting.get(transactionId);
    if (waiting) clearTimeout(waiting.timer);
    this.waiting.delete(transactionId);
  }

  private readonly expected = new Set<string>();
  /** Callbacks refused as not readable, not opened or not verified, by reason: a result that never came may be one of them. */
  private readonly refused = new Map<string, number>();

  /** What the receiver refused so far, for a message about a result that never came; undefined when nothing. */
  refusals(): string | undefined {
    if (this.refused.size === 0) return undefined;
    const total = [...this.refused.values()].reduce((a, b) => a + b, 0);
    return `the callback receiver refused ${total} callback${total === 1 ? '' : 's'}: ${[...this.refused.keys()].join('; ')}`;
  }

  private async accept(
    text: string,
    signature: string | string[] | undefined,
  ): Promise<{ ack_status: 'ACK' | 'NACK' | 'ERR'; error: { code: string; message: string } | null; correlation_id: string | null }> {
    const refuse = (ack: 'NACK' | 'ERR', code: string, message: string) => {
      if (ack === 'ERR') this.refused.set(`${message} (${code})`, (this.refused.get(`${message} (${code})`) ?? 0) + 1);
      return { ack_status: ack, error: { code, message }, correlation_id: null };
    };
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return refuse('ERR', 'err.request.bad', 'the callback is not JSON');
    }
    if (!isRecord(body) || !isRecord(body['header'])) return refuse('ERR', 'err.request.bad', 'the callback has no header');
    if (this.options.verifyWith && this.options.verifyWith.length > 0) {
      const valid =
        typeof signature === 'string' && (await verifyDetached(canonicalJson(body), signature, this.options.verifyWith).catch(() => false));
      if (!valid) return refuse('ERR', 'err.signature.invalid', 'the callback is not signed with the mapper key sparctl knows');
    }
    const header = body['header'];
    let message = body['message'];
    if (header['is_msg_encrypted'] === true || header['is_encrypted'] === true) {
      if (!this.options.decryptWith)
        return refuse('ERR', 'err.encryption.invalid', 'the callback is encrypted but sparctl has no key to open it');
      try {
        message = await decryptMessage(message, this.options.decryptWith);
      } catch {
        return refuse('ERR', 'err.encryption.invalid', 'the encrypted callback cannot be opened with sparctl key');
      }
    }
    if (!isRecord(message) || typeof message['transaction_id'] !== 'string')
      return refuse('ERR', 'err.request.bad', 'the callback message has no transaction_id');
    const transactionId = message['transaction_id'];
    const callback: Callback = { header, message };
    const waiting = this.waiting.get(transactionId);
    if (waiting) {
      clearTimeout(waiting.timer);
      this.waiting.delete(transactionId);
      this.expected.delete(transactionId);
      waiting.resolve(callback);
    } else if (this.expected.has(transactionId)) {
      this.expected.delete(transactionId);
      this.early.set(transactionId, callback);
    } else {
      return refuse('NACK', 'rjct.transaction.id.invalid', `no request of sparctl waits for transaction ${transactionId}`);
    }
    return { ack_status: 'ACK', error: null, correlation_id: transactionId };
  }

  async close(): Promise<void> {
    for (const waiting of this.waiting.values()) clearTimeout(waiting.timer);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * callbackListen's host and port: `host:port`, `host` (a free port), and an IPv6 address in
 * brackets as a URL writes it, `[::1]:8443` (looked up as a host name with its brackets, it
 * failed with ENOTFOUND). Without brackets an IPv6 address cannot be told from its port.
 */
export function listenAddress(listen: string): { host: string; port: number } {
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(listen);
  const unbracketed = bracketed === null && listen.indexOf(':') !== listen.lastIndexOf(':');
  const at = listen.lastIndexOf(':');
  const host = bracketed ? bracketed[1]! : at === -1 ? listen : listen.slice(0, at);
  const portText = bracketed ? bracketed[2] : at === -1 ? undefined : listen.slice(at + 1);
  const port = portText === undefined ? 0 : /^\d+$/.test(portText) ? Number(portText) : Number.NaN;
  if (unbracketed || !Number.isInteger(port) || port > 65535)
    throw new ConfigError('async.bad_listen', `callbackListen "${listen}" is not host:port`, {
      hint: unbracketed
        ? 'write an IPv6 address in brackets, as in a URL: [::1]:8443'
        : 'for example 127.0.0.1:0 (a free port), 0.0.0.0:8443, or [::1]:8443',
    });
  return { host, port };
}

/** A txn/status request for the result of `transactionId` (research/g2p-connect.md §5.6). */
export function txnStatusRequest(operation: string, transactionId: string, sender: string): Record<string, unknown> {
  return {
    header: {
      version: '1.0.0',
      message_id: randomUUID(),
      message_ts: new Date().toISOString(),
      action: 'txn-status',
      sender_id: sender,
      total_count: 1,
      is_msg_encrypted: false,
    },
    message: {
      transaction_id: randomUUID(),
      txnstatus_request: {
        reference_id: randomUUID(),
        txn_type: operation,
        attribute_type: 'transaction_id',
        attribute_value: transactionId,
        locale: 'eng',
      },
    },
  };
}

/** The spec's EncryptedMessage: JWE flattened JSON with a per-recipient unprotected header. */
export async function encryptMessage(message: unknown, receiverKey: KeyObject, kid: string): Promise<Record<string, unknown>> {
  const jwe = await new FlattenedEncrypt(new TextEncoder().encode(JSON.stringify(message)))
    .setUnprotectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid })
    .encrypt(receiverKey);
  return { header: jwe.header, encrypted_key: jwe.encrypted_key, iv: jwe.iv, ciphertext: jwe.ciphertext, tag: jwe.tag };
}

export async function decryptMessage(encrypted: unknown, key: KeyObject): Promise<unknown> {
  const { plaintext } = await flattenedDecrypt(encrypted as FlattenedJWE, key, {
    keyManagementAlgorithms: ['RSA-OAEP-256'],
    contentEncryptionAlgorithms: ['A256GCM'],
  });
  return JSON.parse(new TextDecoder().decode(plaintext)) as unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
