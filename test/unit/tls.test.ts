// Backend TLS: the tls-server-end-point channel binding (RFC 5929 section 4.1) on real
// certificates made with the openssl CLI, and libpq-style sslmode settings.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { signatureAlgorithmOid, tlsServerEndPoint } from '../../broker/tls/channel-binding.js';
import { backendTlsSettings, type BackendTlsInput } from '../../broker/tls/backend-tls.js';
import { BrokerError } from '../../broker/errors.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sl-tls-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

interface Generated {
  certPath: string;
  keyPath: string;
  pem: string;
  keyPem: string;
  der: Buffer;
  /** What openssl itself says the signature algorithm is. */
  opensslSigAlg: string;
}

/** A self-signed certificate: `keyArgs` pick the key, `digest` the signature hash. */
function selfSigned(name: string, keyArgs: string[], digest?: string): Generated {
  const keyPath = path.join(tmp, `${name}.key`);
  const certPath = path.join(tmp, `${name}.crt`);
  openssl(['genpkey', ...keyArgs, '-out', keyPath]);
  openssl([
    'req', '-x509', '-new', '-key', keyPath, ...(digest ? [`-${digest}`] : []), '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'subjectAltName=DNS:localhost', '-out', certPath,
  ]);
  const pem = fs.readFileSync(certPath, 'utf8');
  const text = openssl(['x509', '-in', certPath, '-noout', '-text']);
  const opensslSigAlg = /Signature Algorithm: (\S+)/.exec(text)![1]!;
  return { certPath, keyPath, pem, keyPem: fs.readFileSync(keyPath, 'utf8'), der: Buffer.from(new X509Certificate(pem).raw), opensslSigAlg };
}

/** openssl's own fingerprint (a hash over the DER), as bytes: an independent expected value. */
function opensslFingerprint(certPath: string, digest: string): Buffer {
  const out = openssl(['x509', '-in', certPath, '-noout', '-fingerprint', `-${digest}`]);
  return Buffer.from(out.trim().split('=')[1]!.replace(/:/g, ''), 'hex');
}

let ec: Generated;
let ec384: Generated;
let rsa384: Generated;
let rsa512: Generated;
let rsaSha1: Generated;
let ed25519: Generated;

before(() => {
  const rsaKey = ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'];
  ec = selfSigned('ec-p256-sha256', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'sha256');
  ec384 = selfSigned('ec-p384-sha384', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'], 'sha384');
  rsa384 = selfSigned('rsa-sha384', rsaKey, 'sha384');
  rsa512 = selfSigned('rsa-sha512', rsaKey, 'sha512');
  rsaSha1 = selfSigned('rsa-sha1', rsaKey, 'sha1');
  ed25519 = selfSigned('ed25519', ['-algorithm', 'ED25519']);
});

// ---- channel binding ----

test('the generated certificates have the signature algorithms the tests rely on', () => {
  assert.equal(ec.opensslSigAlg, 'ecdsa-with-SHA256');
  assert.equal(ec384.opensslSigAlg, 'ecdsa-with-SHA384');
  assert.equal(rsa384.opensslSigAlg, 'sha384WithRSAEncryption');
  assert.equal(rsa512.opensslSigAlg, 'sha512WithRSAEncryption');
  assert.equal(rsaSha1.opensslSigAlg, 'sha1WithRSAEncryption');
  assert.equal(ed25519.opensslSigAlg, 'ED25519');
});

test('signatureAlgorithmOid reads the outer signatureAlgorithm OID', () => {
  assert.equal(signatureAlgorithmOid(ec.der), '1.2.840.10045.4.3.2');
  assert.equal(signatureAlgorithmOid(ec384.der), '1.2.840.10045.4.3.3');
  assert.equal(signatureAlgorithmOid(rsa384.der), '1.2.840.113549.1.1.12');
  assert.equal(signatureAlgorithmOid(rsa512.der), '1.2.840.113549.1.1.13');
  assert.equal(signatureAlgorithmOid(rsaSha1.der), '1.2.840.113549.1.1.5');
  assert.equal(signatureAlgorithmOid(ed25519.der), '1.3.101.112');
});

test('tls-server-end-point: EC P-256 signed with SHA-256 is sha256(DER)', () => {
  const got = tlsServerEndPoint(ec.der);
  assert.ok(got);
  assert.deepEqual(got, createHash('sha256').update(ec.der).digest());
  assert.deepEqual(got, opensslFingerprint(ec.certPath, 'sha256'));
});

test('tls-server-end-point: ECDSA with SHA-384 is sha384(DER)', () => {
  assert.deepEqual(tlsServerEndPoint(ec384.der), opensslFingerprint(ec384.certPath, 'sha384'));
});

test('tls-server-end-point: RSA signed with -sha384 is sha384(DER), -sha512 is sha512(DER)', () => {
  const got = tlsServerEndPoint(rsa384.der);
  assert.ok(got);
  assert.equal(got.length, 48);
  assert.deepEqual(got, opensslFingerprint(rsa384.certPath, 'sha384'));
  assert.deepEqual(tlsServerEndPoint(rsa512.der), opensslFingerprint(rsa512.certPath, 'sha512'));
});

test('tls-server-end-point: RSA signed with SHA-1 is upgraded to sha256(DER) (RFC 5929)', () => {
  const got = tlsServerEndPoint(rsaSha1.der);
  assert.ok(got);
  assert.equal(got.length, 32);
  assert.deepEqual(got, opensslFingerprint(rsaSha1.certPath, 'sha256'));
});

test('tls-server-end-point: Ed25519 has no defined hash, so undefined (the broker must not offer -PLUS)', () => {
  assert.equal(tlsServerEndPoint(ed25519.der), undefined);
});

test('tls-server-end-point: garbage, truncated or PEM input gives undefined, never a throw', () => {
  const inputs: Buffer[] = [
    Buffer.alloc(0),
    Buffer.from([0x30]),
    Buffer.from([0x30, 0x82]),
    Buffer.from('hello, not a certificate'),
    Buffer.from(ec.pem), // PEM text is not DER
    ec.der.subarray(0, ec.der.length - 1),
    ec.der.subarray(0, 40),
    ec.der.subarray(4),
    Buffer.from([0x30, 0x02, 0x30, 0x00]),
    Buffer.from([0x30, 0x85, 0xff, 0xff, 0xff, 0xff, 0xff]),
  ];
  for (const input of inputs) assert.equal(tlsServerEndPoint(input), undefined, input.toString('hex').slice(0, 40));

  // Random byte flips in a real certificate: a Buffer or undefined, never an exception.
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  for (let i = 0; i < 2000; i++) {
    const der = Buffer.from(i % 2 ? rsa384.der : ec.der);
    for (let f = 0; f < 3; f++) der[Math.floor(rand() * Math.min(der.length, 64))] = Math.floor(rand() * 256);
    const got = tlsServerEndPoint(der);
    assert.ok(got === undefined || Buffer.isBuffer(got));
  }
});

// ---- backend TLS settings ----

const base = (over: Partial<BackendTlsInput> = {}): BackendTlsInput => ({ defaultMode: 'require', host: 'db.internal', ...over });

async function rejectsTls(work: Promise<unknown>, message?: RegExp): Promise<BrokerError> {
  const err = await work.then(
    () => assert.fail('expected a BrokerError'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof BrokerError, `expected BrokerError, got ${String(err)}`);
  assert.equal(err.code, 'tls_failed');
  if (message) assert.match(err.message, message);
  return err;
}

test('sslmode absent (or empty) uses the defaultMode', async () => {
  const req = await backendTlsSettings(base());
  assert.equal(req.mode, 'require');
  assert.equal(req.verify, 'none');
  const dis = await backendTlsSettings(base({ defaultMode: 'disable' }));
  assert.equal(dis.mode, 'disable');
  const empty = await backendTlsSettings(base({ sslmode: '', defaultMode: 'prefer' }));
  assert.equal(empty.mode, 'prefer');
});

test("'require' without sslrootcert encrypts but does not verify", async () => {
  const s = await backendTlsSettings(base({ sslmode: 'require', defaultMode: 'disable' }));
  assert.equal(s.mode, 'require');
  assert.equal(s.verify, 'none');
  assert.equal(s.options.rejectUnauthorized, false);
  assert.equal(s.options.checkServerIdentity!('db.internal', { subject: { CN: 'anything' } } as unknown as PeerCertificate), undefined);
});

test("'require' WITH sslrootcert verifies the chain like verify-ca (libpq rule)", async () => {
  const s = await backendTlsSettings(base({ sslmode: 'require', sslrootcert: Buffer.from(ec.pem) }));
  assert.equal(s.mode, 'require');
  assert.equal(s.verify, 'ca');
  assert.equal(s.options.rejectUnauthorized, true);
  assert.deepEqual(s.options.ca, [Buffer.from(ec.pem)]);
  // The chain is checked, the host name is not.
  const peer = { subject: { CN: 'x' }, subjectaltname: 'DNS:elsewhere.example' } as unknown as PeerCertificate;
  assert.equal(s.options.checkServerIdentity!('db.internal', peer), undefined);
});

test("'disable' and 'prefer' never verify", async () => {
  for (const sslmode of ['disable', 'prefer']) {
    const s = await backendTlsSettings(base({ sslmode }));
    assert.equal(s.mode, sslmode);
    assert.equal(s.verify, 'none');
    assert.equal(s.options.rejectUnauthorized, false);
  }
});

test('verify-ca / verify-full without sslrootcert fail with tls_failed', async () => {
  for (const sslmode of ['verify-ca', 'verify-full']) {
    await rejectsTls(backendTlsSettings(base({ sslmode })), new RegExp(`${sslmode}.*sslrootcert`));
    await rejectsTls(backendTlsSettings(base({ sslmode, sslrootcert: Buffer.alloc(0) })), /sslrootcert/);
  }
  await rejectsTls(backendTlsSettings(base({ defaultMode: 'verify-full' })), /sslrootcert/);
});

test('verify-ca checks the chain only; verify-full checks the host name too', async () => {
  const ca = await backendTlsSettings(base({ sslmode: 'verify-ca', sslrootcert: Buffer.from(ec.pem) }));
  assert.equal(ca.verify, 'ca');
  assert.equal(ca.options.rejectUnauthorized, true);
  const full = await backendTlsSettings(base({ sslmode: 'verify-full', host: 'localhost', sslrootcert: Buffer.from(ec.pem) }));
  assert.equal(full.verify, 'full');
  assert.equal(full.options.rejectUnauthorized, true);
  assert.equal(full.options.servername, 'localhost');
  const peer = { subject: { CN: 'x' }, subjectaltname: 'DNS:localhost' } as unknown as PeerCertificate;
  assert.equal(full.options.checkServerIdentity!('localhost', peer), undefined);
  const other = { subject: { CN: 'x' }, subjectaltname: 'DNS:db.example' } as unknown as PeerCertificate;
  assert.ok(full.options.checkServerIdentity!('localhost', other) instanceof Error);
});

test('sslrootcert as PEM text and as a file path both load the same certificate', async () => {
  const fromText = await backendTlsSettings(base({ sslmode: 'verify-ca', sslrootcert: Buffer.from(ec.pem) }));
  const fromPath = await backendTlsSettings(base({ sslmode: 'verify-ca', sslrootcert: Buffer.from(ec.certPath) }));
  const fromPathWithNewline = await backendTlsSettings(base({ sslmode: 'verify-ca', sslrootcert: Buffer.from(`${ec.certPath}\n`) }));
  for (const s of [fromText, fromPath, fromPathWithNewline]) {
    const ca = s.options.ca as Buffer[];
    assert.equal(ca.length, 1);
    assert.equal(new X509Certificate(ca[0]!).fingerprint256, new X509Certificate(ec.pem).fingerprint256);
  }
});

test('an unreadable sslrootcert path fails with tls_failed naming the path', async () => {
  const missing = path.join(tmp, 'no-such-ca.crt');
  const err = await rejectsTls(backendTlsSettings(base({ sslmode: 'verify-full', sslrootcert: Buffer.from(missing) })));
  assert.ok(err.message.includes(missing), err.message);
  assert.match(err.message, /sslrootcert/);
  assert.match(err.message, /ENOENT/);
  // A directory is not a certificate file either.
  const dir = await rejectsTls(backendTlsSettings(base({ sslmode: 'require', sslrootcert: Buffer.from(tmp) })));
  assert.ok(dir.message.includes(tmp), dir.message);
  // The same holds for sslcert / sslkey paths.
  const key = await rejectsTls(backendTlsSettings(base({ sslcert: Buffer.from(ec.pem), sslkey: Buffer.from(path.join(tmp, 'gone.key')) })));
  assert.match(key.message, /sslkey/);
  assert.ok(key.message.includes(path.join(tmp, 'gone.key')));
});

test('a client certificate needs both sslcert and sslkey', async () => {
  await rejectsTls(backendTlsSettings(base({ sslcert: Buffer.from(ec.pem) })), /sslcert and sslkey/);
  await rejectsTls(backendTlsSettings(base({ sslkey: Buffer.from(ec.keyPem) })), /sslcert and sslkey/);
  const both = await backendTlsSettings(base({ sslcert: Buffer.from(ec.certPath), sslkey: Buffer.from(ec.keyPath) }));
  assert.deepEqual(both.options.cert, Buffer.from(ec.pem));
  assert.deepEqual(both.options.key, Buffer.from(ec.keyPem));
});

test('an unknown sslmode is an error naming the value and the valid modes', async () => {
  const err = await backendTlsSettings(base({ sslmode: 'verify_full' })).then(
    () => assert.fail('expected an error'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof BrokerError, String(err));
  assert.match(err.message, /verify_full/);
  assert.match(err.message, /verify-full/);
});

test('verify-full checks the certificate against sslhost when given, not the dialled host', async () => {
  const peer = { subject: { CN: 'x' }, subjectaltname: 'DNS:localhost' } as unknown as PeerCertificate;
  const withSslhost = await backendTlsSettings(base({ sslmode: 'verify-full', host: '127.0.0.1', sslhost: 'localhost', sslrootcert: Buffer.from(ec.pem) }));
  assert.equal(withSslhost.options.servername, 'localhost');
  // Node passes the dialled host (or servername); the broker checks sslhost regardless.
  assert.equal(withSslhost.options.checkServerIdentity!('127.0.0.1', peer), undefined);
  assert.equal(withSslhost.options.checkServerIdentity!('localhost', peer), undefined);

  const noSslhost = await backendTlsSettings(base({ sslmode: 'verify-full', host: '127.0.0.1', sslrootcert: Buffer.from(ec.pem) }));
  assert.equal(noSslhost.options.servername, undefined, 'no SNI for an IP address');
  const mismatch = noSslhost.options.checkServerIdentity!('127.0.0.1', peer);
  assert.ok(mismatch instanceof Error, 'an IP host does not match DNS:localhost');
  assert.match(mismatch.message, /127\.0\.0\.1/);

  const wrongSslhost = await backendTlsSettings(base({ sslmode: 'verify-full', host: 'localhost', sslhost: 'db.example', sslrootcert: Buffer.from(ec.pem) }));
  assert.equal(wrongSslhost.options.servername, 'db.example');
  const err = wrongSslhost.options.checkServerIdentity!('localhost', peer);
  assert.ok(err instanceof Error, 'sslhost wins over the dialled host');
  assert.match(err.message, /db\.example/);
});
