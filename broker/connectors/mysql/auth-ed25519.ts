// MariaDB client_ed25519 (plugin auth_ed25519). The server sends a 32-byte nonce and
// expects an Ed25519 signature of it. MariaDB derives the key from the password the
// way RFC 8032 derives it from a 32-byte seed, but hashes the whole password of any
// length: az = SHA-512(password), clamp az[0..32] into the scalar a, prefix az[32..64].
// Node's crypto only accepts 32-byte seeds, so the signing is done here with BigInt
// arithmetic on edwards25519 (extended coordinates); a unit test checks it against
// node:crypto for 32-byte passwords and the integration tests against a real server.
import { createHash } from 'node:crypto';
import type { AuthMechanism } from './auth-mechanism.js';

export const ED25519_PLUGIN = 'client_ed25519';

const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const D = (-121665n * inv(121666n)) % P;

function mod(a: bigint, m = P): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

function pow(base: bigint, exp: bigint, m = P): bigint {
  let result = 1n;
  let b = mod(base, m);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return result;
}

function inv(a: bigint): bigint {
  return pow(mod(a), P - 2n);
}

type Point = [bigint, bigint, bigint, bigint]; // X, Y, Z, T

const BY = mod(4n * inv(5n));
const BX = recoverX(BY, 0n);
const BASE: Point = [BX, BY, 1n, mod(BX * BY)];
const ZERO: Point = [0n, 1n, 1n, 0n];

function recoverX(y: bigint, sign: bigint): bigint {
  const x2 = mod((y * y - 1n) * inv(D * y * y + 1n));
  let x = pow(x2, (P + 3n) / 8n);
  if (mod(x * x - x2) !== 0n) x = mod(x * pow(2n, (P - 1n) / 4n));
  if ((x & 1n) !== sign) x = P - x;
  return x;
}

function add(p: Point, q: Point): Point {
  const a = mod((p[1] - p[0]) * (q[1] - q[0]));
  const b = mod((p[1] + p[0]) * (q[1] + q[0]));
  const c = mod(2n * p[3] * q[3] * D);
  const d = mod(2n * p[2] * q[2]);
  const e = b - a;
  const f = d - c;
  const g = d + c;
  const h = b + a;
  return [mod(e * f), mod(g * h), mod(f * g), mod(e * h)];
}

/** 2^i * B for i < 256, computed once: a base-point multiply is then additions only. */
let basePowers: Point[] | undefined;

function multiplyBase(scalar: bigint): Point {
  if (!basePowers) {
    basePowers = [BASE];
    for (let i = 1; i < 256; i++) basePowers.push(add(basePowers[i - 1]!, basePowers[i - 1]!));
  }
  let result = ZERO;
  let s = scalar;
  for (let i = 0; s > 0n; i++, s >>= 1n) if (s & 1n) result = add(result, basePowers[i]!);
  return result;
}

function encodePoint(p: Point): Buffer {
  const zi = inv(p[2]);
  const x = mod(p[0] * zi);
  const y = mod(p[1] * zi);
  const out = littleEndian(y, 32);
  if (x & 1n) out[31]! |= 0x80;
  return out;
}

function littleEndian(n: bigint, bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  let v = n;
  for (let i = 0; i < bytes; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function fromLittleEndian(b: Buffer): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
}

const sha512 = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest();
};

/**
 * Public keys by SHA-256 of the password: deriving one is half the cost of a login
 * (a few ms of BigInt arithmetic), and a public key is not a secret (the server stores it).
 */
const publicKeys = new Map<string, Buffer>();
const PUBLIC_KEY_CACHE = 16;

/** The 64-byte signature MariaDB's auth_ed25519 verifies. */
export function ed25519Signature(password: Buffer, message: Buffer): Buffer {
  const az = sha512(password);
  az[0]! &= 248;
  az[31]! &= 63;
  az[31]! |= 64;
  const a = fromLittleEndian(az.subarray(0, 32));
  const cacheKey = createHash('sha256').update(password).digest('base64');
  let publicKey = publicKeys.get(cacheKey);
  if (!publicKey) {
    publicKey = encodePoint(multiplyBase(a));
    if (publicKeys.size >= PUBLIC_KEY_CACHE) publicKeys.delete(publicKeys.keys().next().value!);
    publicKeys.set(cacheKey, publicKey);
  }
  const r = mod(fromLittleEndian(sha512(az.subarray(32, 64), message)), L);
  const R = encodePoint(multiplyBase(r));
  const k = mod(fromLittleEndian(sha512(R, publicKey, message)), L);
  const s = mod(r + k * a, L);
  az.fill(0);
  return Buffer.concat([R, littleEndian(s, 32)]);
}

/** The public key MariaDB stores for a password (base64 without padding in mysql.global_priv). */
export function ed25519PublicKey(password: Buffer): Buffer {
  const az = sha512(password);
  az[0]! &= 248;
  az[31]! &= 63;
  az[31]! |= 64;
  return encodePoint(multiplyBase(fromLittleEndian(az.subarray(0, 32))));
}

export const ed25519Mechanism: AuthMechanism = {
  plugin: ED25519_PLUGIN,
  // Only after an auth switch: its nonce is 32 bytes, not the greeting's scramble.
  answersGreeting: false,
  // A bare 32-byte random nonce, whose last byte is 0 once in 256 logins and must be kept.
  switchNonce: (data) => data,
  start: ({ password, nonce }) => ({ first: ed25519Signature(password, nonce) }),
};
