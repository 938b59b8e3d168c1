// caching_sha2_password (MySQL 8 default), client side. The first round sends
// XOR(SHA256(pw), SHA256(SHA256(SHA256(pw)) + nonce)); the server answers "fast auth
// success" (0x03, it had the password cached) or "perform full authentication" (0x04),
// after which the password goes in clear over a secure channel (TLS or Unix socket) or
// RSA-OAEP encrypted with the server's public key, requested with 0x02.
import { constants, createHash, publicEncrypt } from 'node:crypto';
import { BrokerError } from '../../errors.js';
import { scrambleFromSwitch, type AuthMechanism } from './auth-mechanism.js';

export const CACHING_SHA2_PLUGIN = 'caching_sha2_password';
export const FAST_AUTH_SUCCESS = 0x03;
export const PERFORM_FULL_AUTH = 0x04;
export const REQUEST_PUBLIC_KEY = 0x02;

const sha256 = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

export function cachingSha2Token(password: Buffer, nonce: Buffer): Buffer {
  if (password.length === 0) return Buffer.alloc(0);
  const stage1 = sha256(password);
  const mask = sha256(sha256(stage1), nonce.subarray(0, 20));
  for (let i = 0; i < stage1.length; i++) stage1[i]! ^= mask[i]!;
  return stage1;
}

/** password + NUL, XORed with the nonce (repeated), as both full-auth paths expect before encryption. */
function xorWithNonce(password: Buffer, nonce: Buffer): Buffer {
  const plain = Buffer.concat([password, Buffer.alloc(1)]);
  const n = nonce.subarray(0, 20);
  for (let i = 0; i < plain.length; i++) plain[i]! ^= n[i % n.length]!;
  return plain;
}

export function cleartextPayload(password: Buffer): Buffer {
  return Buffer.concat([password, Buffer.alloc(1)]);
}

export function rsaEncryptedPassword(password: Buffer, nonce: Buffer, publicKeyPem: Buffer): Buffer {
  try {
    // OAEP with SHA-1 (RSA_PKCS1_OAEP_PADDING), as the server decrypts it.
    return publicEncrypt({ key: publicKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING }, xorWithNonce(password, nonce));
  } catch (err) {
    throw new BrokerError('target_protocol_error', `the target's RSA public key is unusable: ${(err as Error).message}`);
  }
}

export const cachingSha2Mechanism: AuthMechanism = {
  plugin: CACHING_SHA2_PLUGIN,
  answersGreeting: true,
  switchNonce: scrambleFromSwitch,
  start: ({ password, nonce, secure, debug }) => ({
    first: cachingSha2Token(password, nonce),
    onMoreData(data) {
      if (data.length === 1 && data[0] === FAST_AUTH_SUCCESS) return undefined; // the OK follows
      if (data.length === 1 && data[0] === PERFORM_FULL_AUTH) {
        debug('caching_sha2_password full authentication', { via: secure ? 'secure channel' : 'RSA public key' });
        return secure ? cleartextPayload(password) : Buffer.from([REQUEST_PUBLIC_KEY]);
      }
      if (data.includes('-----BEGIN')) return rsaEncryptedPassword(password, nonce, data);
      throw new BrokerError('target_protocol_error', 'the target sent an unexpected caching_sha2_password message');
    },
  }),
};

/** The server side of the same exchange, for the test stand-in and unit tests. */
export function verifyCachingSha2Token(token: Buffer, nonce: Buffer, doubleHash: Buffer): boolean {
  if (token.length !== 32) return false;
  const mask = sha256(doubleHash, nonce.subarray(0, 20));
  const stage1 = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) stage1[i] = token[i]! ^ mask[i]!;
  return sha256(stage1).equals(doubleHash);
}

export function doubleSha256(password: Buffer): Buffer {
  return sha256(sha256(password));
}

export function unxorWithNonce(plain: Buffer, nonce: Buffer): Buffer {
  const out = Buffer.from(plain);
  const n = nonce.subarray(0, 20);
  for (let i = 0; i < out.length; i++) out[i]! ^= n[i % n.length]!;
  return out;
}
