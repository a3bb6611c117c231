import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CompactSign, compactVerify } from 'jose';
import { ConfigError } from '../../core/errors.js';
import { rsaPrivateKey } from './key-files.js';

/**
 * SPAR v2 request signing (research/spar-api.md §5): a detached compact JWS, RS256, over the
 * canonical JSON of the body, sent in a header literally named `Signature` as
 * `<b64url(protected header)>..<b64url(signature)>`. No claims: the body is the payload.
 */

export interface SigningKey {
  readonly key: KeyObject;
  readonly keyId?: string;
}

/** Reads an RSA private key from a PEM file (PKCS#8 "PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY"). */
export async function loadSigningKey(path: string, keyId?: string): Promise<SigningKey> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      'auth.key_unreadable',
      `cannot read the signing key ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      {
        hint: 'check signingKeyFile in the profile or SPARCTL_SIGNING_KEY_FILE',
      },
    );
  }
  const key = rsaPrivateKey(pem, 'signingKeyFile', path, 'SPAR verifies RS256');
  // RS256 (jose, as RFC 7518 says) refuses a modulus under 2048 bits: said now, not as an internal error at the first request.
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (bits !== undefined && bits < 2048) {
    throw new ConfigError('auth.key_invalid', `signingKeyFile ${path} holds a ${bits}-bit RSA key; RS256 needs one of at least 2048 bits`, {
      hint: 'have the partner key made anew: openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key.pem',
    });
  }
  return keyId === undefined ? { key } : { key, keyId };
}

/** The value of the `Signature` header for these exact body bytes. */
export async function signDetached(canonicalBody: string, signing: SigningKey): Promise<string> {
  const header = signing.keyId === undefined ? { alg: 'RS256' } : { alg: 'RS256', kid: signing.keyId };
  const jws = await new CompactSign(new TextEncoder().encode(canonicalBody)).setProtectedHeader(header).sign(signing.key);
  const [protectedHeader, , signature] = jws.split('.');
  return `${protectedHeader}..${signature}`;
}

/** A partner's public key from PEM text: an X.509 certificate or an SPKI public key. */
export function publicKeyFromPem(pem: string): KeyObject {
  if (pem.includes('BEGIN CERTIFICATE')) return new X509Certificate(pem).publicKey;
  return createPublicKey({ key: pem, format: 'pem' });
}

/**
 * True when `signature` (detached, as sent in the header) is a valid RS256 signature by one of
 * `keys` over `canonicalBody`. Never throws for a bad signature.
 */
export async function verifyDetached(canonicalBody: string, signature: string, keys: readonly KeyObject[]): Promise<boolean> {
  const parts = signature.split('.');
  if (parts.length !== 3 || parts[1] !== '') return false;
  const payload = Buffer.from(canonicalBody, 'utf8').toString('base64url');
  const compact = `${parts[0]}.${payload}.${parts[2]}`;
  for (const key of keys) {
    try {
      await compactVerify(compact, key, { algorithms: ['RS256'] });
      return true;
    } catch {
      // try the next key
    }
  }
  return false;
}
