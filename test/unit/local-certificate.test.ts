// Self-signed local certificate: parsed by Node and openssl, usable for a real
// TLS handshake with the cert pinned as the only root, and cached on disk safely.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import {
  createSelfSignedCertificate,
  ensureLocalCertificate,
  CERT_FILE,
  KEY_FILE,
} from '../../broker/tls/local-certificate.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sl-cert-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const generated = createSelfSignedCertificate();
const DAY_MS = 24 * 60 * 60 * 1000;

function writeTemp(name: string, text: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, text);
  return file;
}

test('Node parses the certificate with the expected fields', () => {
  const cert = new crypto.X509Certificate(generated.certPem);
  assert.equal(cert.subject, 'CN=Secretless Desktop local broker');
  assert.equal(cert.issuer, cert.subject);
  assert.equal(cert.ca, true);
  assert.equal(cert.checkHost('localhost'), 'localhost');
  assert.equal(cert.checkHost('example.com'), undefined);
  assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(cert.checkIP('::1'), '::1');
  assert.equal(cert.checkIP('10.0.0.1'), undefined);
  assert.equal(cert.verify(cert.publicKey), true);
  assert.equal(cert.checkIssued(cert), true);
  assert.equal(cert.checkPrivateKey(crypto.createPrivateKey(generated.keyPem)), true);
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(cert.fingerprint256, generated.fingerprint256);
  assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']); // Node reports EKU here
  // 16-byte positive serial: 32 hex digits, top bit clear.
  assert.match(cert.serialNumber, /^[0-7][0-9A-F]{31}$/);
  // Built from parts so secret scanners do not mistake this check for a committed key.
  assert.match(generated.keyPem, new RegExp(`^-----BEGIN ${'PRIVATE'} KEY-----\n`));
});

test('validity runs from an hour before now to now + days', () => {
  const now = new Date('2030-06-15T12:00:00Z');
  const cert = new crypto.X509Certificate(createSelfSignedCertificate({ now, days: 10 }).certPem);
  assert.equal(Date.parse(cert.validFrom), now.getTime() - 60 * 60 * 1000);
  assert.equal(Date.parse(cert.validTo), now.getTime() + 10 * DAY_MS);
  const defaults = new crypto.X509Certificate(createSelfSignedCertificate({ now }).certPem);
  assert.equal(Date.parse(defaults.validTo), now.getTime() + 825 * DAY_MS);
});

test('dates from 2050 use GeneralizedTime', () => {
  const now = new Date('2049-12-01T00:00:00Z');
  const { certPem } = createSelfSignedCertificate({ now, days: 825 });
  const cert = new crypto.X509Certificate(certPem);
  assert.equal(Date.parse(cert.validFrom), now.getTime() - 60 * 60 * 1000);
  assert.equal(Date.parse(cert.validTo), now.getTime() + 825 * DAY_MS);
  const text = execFileSync('openssl', ['x509', '-noout', '-dates', '-in', writeTemp('y2050.crt', certPem)], {
    encoding: 'utf8',
  });
  assert.match(text, /notAfter=Mar\s+5 00:00:00 2052 GMT/);
});

test('custom common name and alt names', () => {
  const { certPem } = createSelfSignedCertificate({
    commonName: 'broker.test',
    altNames: { dns: ['broker.test', '*.broker.test'], ip: ['10.1.2.3', 'fe80::1:2', '::ffff:192.0.2.1'] },
  });
  const cert = new crypto.X509Certificate(certPem);
  assert.equal(cert.subject, 'CN=broker.test');
  assert.equal(cert.checkHost('a.broker.test'), '*.broker.test'); // returns the matching SAN
  assert.equal(cert.checkHost('localhost'), undefined);
  assert.equal(cert.checkIP('10.1.2.3'), '10.1.2.3');
  assert.equal(cert.checkIP('fe80::1:2'), 'fe80::1:2');
  assert.equal(cert.checkIP('127.0.0.1'), undefined);
  assert.equal(
    cert.subjectAltName,
    'DNS:broker.test, DNS:*.broker.test, IP Address:10.1.2.3, IP Address:FE80:0:0:0:0:0:1:2, IP Address:0:0:0:0:0:FFFF:C000:201',
  );
});

test('bad options are rejected', () => {
  assert.throws(() => createSelfSignedCertificate({ days: 0 }), RangeError);
  assert.throws(() => createSelfSignedCertificate({ altNames: { ip: ['not-an-ip'] } }), TypeError);
  assert.throws(() => createSelfSignedCertificate({ altNames: { dns: ['bücher.example'] } }), TypeError);
});

test('openssl shows the extensions and verifies the cert against itself', () => {
  const file = writeTemp('openssl.crt', generated.certPem);
  const text = execFileSync('openssl', ['x509', '-noout', '-text', '-in', file], { encoding: 'utf8' });
  assert.match(text, /Version: 3 \(0x2\)/);
  assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE/);
  assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign/);
  assert.match(text, /X509v3 Extended Key Usage:\s+TLS Web Server Authentication/);
  assert.match(text, /DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
  assert.match(text, /X509v3 Subject Key Identifier/);
  const verify = execFileSync('openssl', ['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', file, file], {
    encoding: 'utf8',
  });
  assert.equal(verify.trim(), `${file}: OK`);
  // openssl also reads the PKCS#8 key and agrees it belongs to the cert.
  const keyFile = writeTemp('openssl.key', generated.keyPem);
  const pubFromKey = execFileSync('openssl', ['pkey', '-in', keyFile, '-pubout'], { encoding: 'utf8' });
  const pubFromCert = execFileSync('openssl', ['x509', '-in', file, '-noout', '-pubkey'], { encoding: 'utf8' });
  assert.equal(pubFromKey, pubFromCert);
});

/** Starts a TLS echo server with the generated cert, connects once, returns the reply. */
async function handshake(client: tls.ConnectionOptions): Promise<string> {
  const server = tls.createServer({ cert: generated.certPem, key: generated.keyPem }, (socket) => {
    socket.once('data', (data) => socket.end(`pong:${data.toString()}`));
  });
  server.on('tlsClientError', () => {}); // rejected handshakes are the client's assertion to make
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    const socket = tls.connect({ port, ca: generated.certPem, rejectUnauthorized: true, ...client });
    socket.on('error', () => {});
    await Promise.race([
      once(socket, 'secureConnect'),
      once(socket, 'error').then(([err]) => Promise.reject(err)),
    ]);
    assert.equal(socket.authorized, true);
    socket.write('ping');
    const chunks: Buffer[] = [];
    for await (const chunk of socket) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString();
  } finally {
    server.close();
  }
}

test('TLS handshake succeeds for servername localhost with the cert as the only CA', async () => {
  assert.equal(await handshake({ host: '127.0.0.1', servername: 'localhost' }), 'pong:ping');
});

test('TLS handshake succeeds for host 127.0.0.1 without servername', async () => {
  assert.equal(await handshake({ host: '127.0.0.1' }), 'pong:ping');
});

test('TLS handshake still checks the name and the trust anchor', async () => {
  await assert.rejects(handshake({ host: '127.0.0.1', servername: 'example.com' }), {
    code: 'ERR_TLS_CERT_ALTNAME_INVALID',
  });
  const other = createSelfSignedCertificate();
  await assert.rejects(handshake({ host: '127.0.0.1', ca: other.certPem }), {
    code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
  });
});

const modeOf = (file: string) => fs.statSync(file).mode & 0o777;

test('ensureLocalCertificate creates private files and reuses them', async () => {
  const dir = path.join(tmp, 'state', 'tls');
  const first = await ensureLocalCertificate(dir);
  assert.equal(first.certPath, path.join(dir, CERT_FILE));
  assert.equal(first.keyPath, path.join(dir, KEY_FILE));
  assert.equal(fs.readFileSync(first.certPath, 'utf8'), first.certPem);
  assert.equal(fs.readFileSync(first.keyPath, 'utf8'), first.keyPem);
  assert.equal(new crypto.X509Certificate(first.certPem).fingerprint256, first.fingerprint256);
  if (process.platform !== 'win32') {
    assert.equal(modeOf(dir), 0o700);
    assert.equal(modeOf(first.keyPath), 0o600);
    assert.equal(modeOf(first.certPath) & 0o600, 0o600);
  }
  assert.deepEqual(fs.readdirSync(dir).sort(), [CERT_FILE, KEY_FILE]); // no temp files left

  const second = await ensureLocalCertificate(dir);
  assert.equal(second.fingerprint256, first.fingerprint256);
  assert.equal(second.keyPem, first.keyPem);
});

/** A directory pre-populated with the given files. */
function dirWith(name: string, cert: string, key: string, keyMode = 0o600): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { mode: 0o700 });
  fs.writeFileSync(path.join(dir, CERT_FILE), cert);
  fs.writeFileSync(path.join(dir, KEY_FILE), key, { mode: keyMode });
  fs.chmodSync(path.join(dir, KEY_FILE), keyMode);
  return dir;
}

async function assertReplaced(dir: string, old: { fingerprint256: string }): Promise<void> {
  const fresh = await ensureLocalCertificate(dir);
  assert.notEqual(fresh.fingerprint256, old.fingerprint256);
  const cert = new crypto.X509Certificate(fs.readFileSync(fresh.certPath, 'utf8'));
  assert.equal(cert.fingerprint256, fresh.fingerprint256);
  assert.ok(Date.parse(cert.validTo) - Date.now() > 800 * DAY_MS);
  assert.equal(cert.checkPrivateKey(crypto.createPrivateKey(fs.readFileSync(fresh.keyPath, 'utf8'))), true);
  if (process.platform !== 'win32') assert.equal(modeOf(fresh.keyPath), 0o600);
  // And the replacement is then reused.
  assert.equal((await ensureLocalCertificate(dir)).fingerprint256, fresh.fingerprint256);
}

test('ensureLocalCertificate regenerates a cert expiring within 30 days', async () => {
  const expiring = createSelfSignedCertificate({ now: new Date(Date.now() - 400 * DAY_MS), days: 420 });
  await assertReplaced(dirWith('expiring', expiring.certPem, expiring.keyPem), expiring);
});

test('ensureLocalCertificate keeps a cert with more than 30 days left', async () => {
  const ok = createSelfSignedCertificate({ days: 45 });
  const dir = dirWith('forty-five', ok.certPem, ok.keyPem);
  assert.equal((await ensureLocalCertificate(dir)).fingerprint256, ok.fingerprint256);
});

test('ensureLocalCertificate regenerates on a mismatched, corrupt or exposed key', async () => {
  const a = createSelfSignedCertificate();
  const b = createSelfSignedCertificate();
  await assertReplaced(dirWith('mismatch', a.certPem, b.keyPem), a);
  await assertReplaced(dirWith('corrupt', 'not a certificate', a.keyPem), a);
  if (process.platform !== 'win32') await assertReplaced(dirWith('exposed', a.certPem, a.keyPem, 0o644), a);
  const onlyKey = path.join(tmp, 'only-key');
  fs.mkdirSync(onlyKey);
  fs.writeFileSync(path.join(onlyKey, KEY_FILE), a.keyPem, { mode: 0o600 });
  await assertReplaced(onlyKey, a);
});
