// Self-signed certificate for the broker's own local listeners. Clients such as
// node-postgres insist on TLS, so the broker needs a certificate they can pin as
// their only trusted root. Built with node:crypto alone: a tiny DER encoder plus
// crypto.sign, so there is no openssl binary or npm package to depend on.
import * as crypto from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { join } from 'node:path';

export interface CertificateOptions {
  commonName?: string;
  altNames?: { dns?: string[]; ip?: string[] };
  /** Validity in days from `now` (default 825, the longest lifetime Apple platforms accept). */
  days?: number;
  now?: Date;
}

export interface GeneratedCertificate {
  certPem: string;
  keyPem: string;
  /** SHA-256 of the DER certificate, formatted like X509Certificate.fingerprint256. */
  fingerprint256: string;
}

export interface LocalCertificate extends GeneratedCertificate {
  certPath: string;
  keyPath: string;
}

export const DEFAULT_COMMON_NAME = 'Secretless Desktop local broker';
const DEFAULT_DAYS = 825;
const DEFAULT_DNS = ['localhost'];
const DEFAULT_IP = ['127.0.0.1', '::1'];
/** Backdate notBefore so a client whose clock is slightly behind still accepts the cert. */
const BACKDATE_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
/** A stored certificate expiring sooner than this is replaced. */
const MIN_REMAINING_MS = 30 * DAY_MS;

export const CERT_FILE = 'local-tls.crt';
export const KEY_FILE = 'local-tls.key';

// ---------------------------------------------------------------------------
// Minimal DER encoder (X.690): just the types a certificate needs.

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

const sequence = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const octetString = (content: Buffer) => tlv(0x04, content);
const utf8String = (text: string) => tlv(0x0c, Buffer.from(text, 'utf8'));
const booleanTrue = () => tlv(0x01, Buffer.from([0xff]));
/** Explicit context-specific constructed tag, e.g. [0] version, [3] extensions. */
const explicit = (n: number, content: Buffer) => tlv(0xa0 | n, content);
/** All our BIT STRINGs are whole bytes: zero unused bits. */
const bitString = (content: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), content]));

/** Unsigned big-endian magnitude as a minimal, non-negative INTEGER. */
function integer(magnitude: Buffer | number): Buffer {
  let bytes = typeof magnitude === 'number' ? Buffer.from([magnitude]) : magnitude;
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  bytes = bytes.subarray(start);
  if (bytes.length === 0) bytes = Buffer.from([0]);
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(0x02, bytes);
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const values = [arcs[0]! * 40 + arcs[1]!, ...arcs.slice(2)];
  const out: number[] = [];
  for (const value of values) {
    const chunk = [value & 0x7f];
    for (let v = Math.floor(value / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, always seconds + Z. */
function time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '') + 'Z';
  const year = date.getUTCFullYear();
  if (year >= 1950 && year < 2050) return tlv(0x17, Buffer.from(digits.slice(2), 'ascii'));
  return tlv(0x18, Buffer.from(digits, 'ascii'));
}

// ---------------------------------------------------------------------------
// Certificate pieces.

const OID = {
  commonName: '2.5.4.3',
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
} as const;

const name = (commonName: string) => sequence(set(sequence(oid(OID.commonName), utf8String(commonName))));

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [booleanTrue()] : []), octetString(value));
}

/** KeyUsage bits, numbered from the most significant bit of the first byte. */
function keyUsage(bits: number[]): Buffer {
  let value = 0;
  for (const bit of bits) value |= 0x80 >> bit;
  // DER wants trailing zero bits trimmed and counted as unused.
  let unused = 0;
  while (unused < 7 && !(value & (1 << unused))) unused++;
  return tlv(0x03, Buffer.from([unused, value]));
}

function dnsName(host: string): Buffer {
  // dNSName is an IA5String: internationalised names must arrive as punycode.
  if (!/^[\x21-\x7e]+$/.test(host)) throw new TypeError(`invalid DNS subjectAltName '${host}'`);
  return tlv(0x82, Buffer.from(host, 'ascii'));
}

const ipName = (ip: string) => tlv(0x87, ipBytes(ip));

/** 4 or 16 network-order bytes, as iPAddress in subjectAltName requires. */
function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (!isIPv6(ip) || ip.includes('%')) throw new TypeError(`invalid IP subjectAltName '${ip}'`);
  let text = ip;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    // Embedded IPv4 (::ffff:1.2.3.4): rewrite as two hex groups.
    const v4 = ipBytes(tail);
    text = `${text.slice(0, lastColon + 1)}${v4.readUInt16BE(0).toString(16)}:${v4.readUInt16BE(2).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const groups = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const before = groups(head);
  const after = groups(rest);
  const zeros = rest === undefined ? [] : new Array<number>(8 - before.length - after.length).fill(0);
  const out = Buffer.alloc(16);
  [...before, ...zeros, ...after].forEach((group, i) => out.writeUInt16BE(group, i * 2));
  return out;
}

/** Random 16-byte serial; top bit cleared (positive) and next bit set (stays 16 bytes in DER). */
function randomSerial(): Buffer {
  const serial = crypto.randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  return serial;
}

/** The uncompressed EC point inside the SPKI, which RFC 5280 method 1 hashes for the key id. */
function keyIdentifier(publicKey: crypto.KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  return crypto.createHash('sha1').update(point).digest();
}

function extensions(altNames: { dns: string[]; ip: string[] }, keyId: Buffer): Buffer {
  const san = sequence(...altNames.dns.map(dnsName), ...altNames.ip.map(ipName));
  return sequence(
    // CA:TRUE so clients can pin this very certificate as their trusted root.
    extension(OID.basicConstraints, true, sequence(booleanTrue())),
    // digitalSignature (0) for the ECDHE handshake, keyCertSign (5) because it signs itself.
    extension(OID.keyUsage, true, keyUsage([0, 5])),
    extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
    extension(OID.subjectAltName, false, san),
    extension(OID.subjectKeyIdentifier, false, octetString(keyId)),
    // keyIdentifier [0] IMPLICIT; strict verifiers (Python 3.13+) use it for path building.
    extension(OID.authorityKeyIdentifier, false, sequence(tlv(0x80, keyId))),
  );
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function fingerprint(der: Buffer): string {
  const hex = crypto.createHash('sha256').update(der).digest('hex').toUpperCase();
  return hex.match(/../g)!.join(':');
}

// ---------------------------------------------------------------------------

export function createSelfSignedCertificate(opts: CertificateOptions = {}): GeneratedCertificate {
  const commonName = opts.commonName ?? DEFAULT_COMMON_NAME;
  const days = opts.days ?? DEFAULT_DAYS;
  const now = opts.now ?? new Date();
  if (!(Number.isFinite(days) && days > 0)) throw new RangeError(`days must be a positive number, got ${days}`);
  if (commonName === '') throw new TypeError('commonName must not be empty');
  const altNames = { dns: opts.altNames?.dns ?? DEFAULT_DNS, ip: opts.altNames?.ip ?? DEFAULT_IP };

  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const signatureAlgorithm = sequence(oid(OID.ecdsaWithSha256)); // parameters absent per RFC 5758
  const subject = name(commonName);

  const tbs = sequence(
    explicit(0, integer(2)), // v3
    integer(randomSerial()),
    signatureAlgorithm,
    subject, // issuer: self-signed
    sequence(time(new Date(now.getTime() - BACKDATE_MS)), time(new Date(now.getTime() + days * DAY_MS))),
    subject,
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, extensions(altNames, keyIdentifier(publicKey))),
  );
  // Default dsaEncoding is 'der': an ECDSA-Sig-Value, exactly what X.509 carries.
  const signature = crypto.sign('sha256', tbs, privateKey);
  const der = sequence(tbs, signatureAlgorithm, bitString(signature));

  return {
    certPem: pem('CERTIFICATE', der),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    fingerprint256: fingerprint(der),
  };
}

/** Stored material, or undefined when missing, unreadable, mismatched, exposed or expiring. */
async function loadUsable(certPath: string, keyPath: string): Promise<GeneratedCertificate | undefined> {
  try {
    const [certPem, keyPem, keyStat] = await Promise.all([
      readFile(certPath, 'utf8'),
      readFile(keyPath, 'utf8'),
      stat(keyPath),
    ]);
    // A key others could read may have leaked: replace it rather than keep using it.
    if (process.platform !== 'win32' && keyStat.mode & 0o077) return undefined;
    const cert = new crypto.X509Certificate(certPem);
    const now = Date.now();
    if (Date.parse(cert.validFrom) > now) return undefined;
    if (Date.parse(cert.validTo) - now < MIN_REMAINING_MS) return undefined;
    // Guards against a crash between writing the key and writing the cert.
    if (!cert.checkPrivateKey(crypto.createPrivateKey(keyPem))) return undefined;
    return { certPem, keyPem, fingerprint256: cert.fingerprint256 };
  } catch {
    return undefined;
  }
}

/** Write via a temp file + rename, so readers never see a partial file and the key is never world-readable. */
async function writeAtomically(path: string, data: string, mode: number): Promise<void> {
  const temp = `${path}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, data, { mode, flag: 'wx' });
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

export async function ensureLocalCertificate(dir: string): Promise<LocalCertificate> {
  const certPath = join(dir, CERT_FILE);
  const keyPath = join(dir, KEY_FILE);
  const existing = await loadUsable(certPath, keyPath);
  if (existing) return { ...existing, certPath, keyPath };

  await mkdir(dir, { recursive: true, mode: 0o700 });
  const created = createSelfSignedCertificate();
  await writeAtomically(keyPath, created.keyPem, 0o600);
  await writeAtomically(certPath, created.certPem, 0o644);
  return { ...created, certPath, keyPath };
}
