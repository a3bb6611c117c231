import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Agent } from './undici-parts.js';
import { ConfigError } from '../../core/errors.js';

/**
 * TLS for every outgoing connection: the system's trusted CAs, plus a private CA from caFile
 * (a deployment behind an internal CA). Verification is off only with --insecure, which the CLI
 * announces; nothing in a profile or the environment can turn it off.
 */
export interface TlsSettings {
  readonly caFile?: string | undefined;
  readonly insecure?: boolean | undefined;
}

export interface TlsConnect {
  readonly ca?: string[];
  readonly rejectUnauthorized?: boolean;
}

export function tlsConnect(settings: TlsSettings): TlsConnect {
  const connect: { ca?: string[]; rejectUnauthorized?: boolean } = {};
  if (settings.caFile) {
    let pem: string;
    try {
      pem = readFileSync(settings.caFile, 'utf8');
    } catch (error) {
      throw new ConfigError(
        'tls.ca_unreadable',
        `cannot read caFile ${settings.caFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----'))
      throw new ConfigError('tls.ca_invalid', `caFile ${settings.caFile} holds no PEM certificate`);
    // The private CA is trusted in addition to the system's, not instead of them.
    connect.ca = [...rootCertificates, pem];
  }
  if (settings.insecure) connect.rejectUnauthorized = false;
  return connect;
}

/** An undici dispatcher with these TLS settings, for one-off requests (token, DFSP). */
export function tlsDispatcher(settings: TlsSettings): Agent | undefined {
  const connect = tlsConnect(settings);
  return Object.keys(connect).length === 0 ? undefined : new Agent({ connect });
}
