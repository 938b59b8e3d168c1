// Random bytes for login nonces (MySQL's scramble, SCRAM's client nonce), handed out
// from a pool filled 4 KiB at a time by the same CSPRNG: each crypto.randomBytes() call
// costs a getpid system call and OpenSSL's locking, 10-15 µs on the test VM, a visible
// share of a login. Nonces go over the wire in clear; what matters is that they are
// unpredictable and never reused, and each pooled byte is handed out once.
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let offset = 0;

/** `n` fresh random bytes (a copy the caller may change). */
export function loginRandom(n: number): Buffer {
  if (n > POOL_BYTES) return randomFillSync(Buffer.alloc(n));
  if (offset + n > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafeSlow(POOL_BYTES));
    offset = 0;
  }
  const out = Buffer.from(pool.subarray(offset, offset + n));
  offset += n;
  return out;
}
