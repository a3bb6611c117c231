import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { ConfigError } from '../../core/errors.js';

/**
 * The PEM text of a key file a profile names (signingKeyFile, decryptionKeyFile,
 * callbackCertFile) made into an RSA key, or refused in one line naming the
 * setting, the file and what is wrong: OpenSSL's own words ("DECODER routines::unsupported",
 * "interrupted or cancelled" for a passphrase) reached the user as an internal error, and a key
 * of another type was taken and failed at the first callback. The file's text is never shown:
 * a private key is a secret.
 */

/**
 * An RSA private key. `setting`: the setting that names the file; `needsRsa`: what sparctl does
 * with it that needs RSA ("SPAR verifies RS256").
 */
export function rsaPrivateKey(pem: string, setting: string, path: string, needsRsa: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    if (encrypted(pem, error))
      throw new ConfigError(
        'auth.key_invalid',
        `${setting} ${path} is an encrypted (passphrase-protected) private key; sparctl takes no passphrase`,
        {
          hint: 'write it out unencrypted, for its owner only: openssl pkey -in KEY -out key.pem, which asks the passphrase, then chmod 600 key.pem',
        },
      );
    throw new ConfigError('auth.key_invalid', `${setting} ${path} is not a PEM private key (PKCS#8 or PKCS#1)`, {
      hint: 'export the key with: openssl pkey -in KEY -out key.pem',
    });
  }
  return onlyRsa(key, setting, path, needsRsa);
}

/** The mapper's RSA public key from its certificate or public key (a private key gives its public half). */
export function rsaPublicKey(pem: string, setting: string, path: string, needsRsa: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw new ConfigError(
      'auth.key_invalid',
      encrypted(pem, error)
        ? `${setting} ${path} is an encrypted (passphrase-protected) private key, where the mapper's certificate or public key belongs`
        : `${setting} ${path} is not a PEM certificate or public key`,
      { hint: "give the mapper's certificate (BEGIN CERTIFICATE) or public key (BEGIN PUBLIC KEY) in PEM" },
    );
  }
  return onlyRsa(key, setting, path, needsRsa);
}

function onlyRsa(key: KeyObject, setting: string, path: string, needsRsa: string): KeyObject {
  if (key.asymmetricKeyType !== 'rsa')
    throw new ConfigError(
      'auth.key_not_rsa',
      `${setting} ${path} holds a key of type ${key.asymmetricKeyType ?? 'unknown'}; ${needsRsa}, which needs an RSA key`,
    );
  return key;
}

/** A PEM private key under a passphrase: PKCS#8's own label, or OpenSSL's traditional header. */
function encrypted(pem: string, error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return (
    /-----BEGIN ENCRYPTED PRIVATE KEY-----|^Proc-Type:\s*4,ENCRYPTED/m.test(pem) ||
    code === 'ERR_MISSING_PASSPHRASE' ||
    code === 'ERR_OSSL_CRYPTO_INTERRUPTED_OR_CANCELLED'
  );
}
