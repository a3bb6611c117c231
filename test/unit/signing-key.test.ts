import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSigningKey } from '../../src/adapters/http/signing.js';
import { tempDir } from '../helpers/tmp.js';

const keyFile = (bits: number) => {
  const path = join(tempDir(), `k${bits}.pem`);
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return path;
};

describe('a signing key', () => {
  it('under 2048 bits is auth.key_invalid when read, naming its size, not an internal error at the first request', async () => {
    const path = keyFile(1024);
    await expect(loadSigningKey(path)).rejects.toMatchObject({
      code: 'auth.key_invalid',
      message: `signingKeyFile ${path} holds a 1024-bit RSA key; RS256 needs one of at least 2048 bits`,
    });
    await expect(loadSigningKey(keyFile(2048))).resolves.toMatchObject({ key: expect.anything() });
  });

  it('under a passphrase is said to be encrypted, naming the setting and the file, never "not a PEM private key"', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    for (const [name, type] of [
      ['pkcs8.pem', 'pkcs8'],
      ['pkcs1.pem', 'pkcs1'],
    ] as const) {
      const path = join(tempDir(), name);
      writeFileSync(path, privateKey.export({ type, format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }));
      await expect(loadSigningKey(path)).rejects.toMatchObject({
        code: 'auth.key_invalid',
        exitCode: 3,
        message: `signingKeyFile ${path} is an encrypted (passphrase-protected) private key; sparctl takes no passphrase`,
      });
    }
  });
});
