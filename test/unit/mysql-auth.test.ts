// The MySQL auth mechanisms against independent implementations: mysql2's native
// password token, the caching_sha2_password formula and its server-side check, the
// RSA-OAEP payload decrypted with the private key, and MariaDB's ed25519 signature
// against node:crypto (32-byte passwords, where MariaDB's derivation equals RFC 8032)
// and the RFC 8032 test vector.
import assert from 'node:assert/strict';
import { constants, createHash, createPrivateKey, generateKeyPairSync, privateDecrypt, randomBytes, sign } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { cachingSha2Token, doubleSha256, rsaEncryptedPassword, unxorWithNonce, verifyCachingSha2Token } from '../../broker/connectors/mysql/auth-caching-sha2.js';
import { ed25519PublicKey, ed25519Signature } from '../../broker/connectors/mysql/auth-ed25519.js';
import { clearPasswordMechanism } from '../../broker/connectors/mysql/auth-clear-password.js';
import { switchMechanism } from '../../broker/connectors/mysql/auth-mechanisms.js';
import { nativePasswordToken } from '../../broker/connectors/mysql/auth-native.js';

const require = createRequire(import.meta.url);
// Not in mysql2's exports map: load the file by path.
const auth41 = require(join(dirname(require.resolve('mysql2')), 'lib', 'auth_41.js')) as { calculateToken(password: string, scramble1: Buffer, scramble2: Buffer): Buffer };

const sha256 = (...b: Buffer[]) => b.reduce((h, x) => h.update(x), createHash('sha256')).digest();

test('mysql_native_password matches mysql2', () => {
  for (let i = 0; i < 5; i++) {
    const pw = randomBytes(10).toString('hex');
    const scramble = randomBytes(20);
    assert.deepEqual(nativePasswordToken(Buffer.from(pw), scramble), auth41.calculateToken(pw, scramble.subarray(0, 8), scramble.subarray(8)));
  }
  assert.equal(nativePasswordToken(Buffer.alloc(0), randomBytes(20)).length, 0);
});

test('caching_sha2_password scramble: XOR(SHA256(pw), SHA256(SHA256(SHA256(pw)) + nonce)), accepted by the server check', () => {
  const pw = Buffer.from('secret-ü');
  const nonce = randomBytes(20);
  const expected = Buffer.from(sha256(pw).map((b, i) => b ^ sha256(sha256(sha256(pw)), nonce)[i]!));
  const token = cachingSha2Token(pw, nonce);
  assert.deepEqual(token, expected);
  assert.equal(verifyCachingSha2Token(token, nonce, doubleSha256(pw)), true);
  assert.equal(verifyCachingSha2Token(cachingSha2Token(Buffer.from('other'), nonce), nonce, doubleSha256(pw)), false);
});

test('caching_sha2_password RSA payload: OAEP-encrypted password+NUL XOR nonce', () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = Buffer.from(publicKey.export({ type: 'spki', format: 'pem' }) as string);
  const nonce = randomBytes(20);
  const pw = Buffer.from('a-password-longer-than-the-twenty-byte-nonce');
  const encrypted = rsaEncryptedPassword(pw, nonce, pem);
  const clear = unxorWithNonce(privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING }, encrypted), nonce);
  assert.deepEqual(clear, Buffer.concat([pw, Buffer.alloc(1)]));
  assert.throws(() => rsaEncryptedPassword(pw, nonce, Buffer.from('not a key')), /RSA public key is unusable/);
});

test('ed25519: RFC 8032 test vector 1 (a 32-byte password is a seed)', () => {
  const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
  assert.equal(ed25519PublicKey(seed).toString('hex'), 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  assert.equal(
    ed25519Signature(seed, Buffer.alloc(0)).toString('hex'),
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  );
});

test('ed25519 signatures equal node:crypto for random 32-byte passwords', () => {
  for (let i = 0; i < 5; i++) {
    const seed = randomBytes(32);
    const message = randomBytes(32);
    const key = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
    assert.deepEqual(ed25519Signature(seed, message), sign(null, message, key));
  }
});

test('mysql_clear_password: the password NUL-terminated, only over TLS or a Unix socket', () => {
  const password = Buffer.from('ya29.c.token-as-password');
  const input = { password, nonce: Buffer.alloc(0), debug: () => {} };
  assert.deepEqual(clearPasswordMechanism.start({ ...input, secure: true }).first, Buffer.concat([password, Buffer.from([0])]));
  assert.equal(switchMechanism('mysql_clear_password'), clearPasswordMechanism, 'an auth switch to it is answered');
  assert.throws(() => clearPasswordMechanism.start({ ...input, secure: false }), (err: Error) => {
    assert.match(err.message, /mysql_clear_password over an unencrypted link: use sslmode require/);
    assert.ok(!err.message.includes('ya29'));
    return true;
  });
});
