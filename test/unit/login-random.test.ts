// Login nonces from the pooled CSPRNG (connectors/login-random.ts): never the same bytes twice,
// across pool refills too, and the caller owns what it gets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loginRandom } from '../../broker/connectors/login-random.js';
import { newScramble } from '../../broker/connectors/mysql/client-side.js';

test('nonces are fresh across several pool refills', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const b = loginRandom(i % 2 ? 20 : 18);
    assert.equal(b.length, i % 2 ? 20 : 18);
    seen.add(b.toString('hex'));
  }
  assert.equal(seen.size, 1000);
});

test('a nonce is a copy: changing it does not change the next one', () => {
  const a = loginRandom(20);
  a.fill(0);
  assert.notDeepEqual(loginRandom(20), Buffer.alloc(20));
  const big = loginRandom(10_000);
  assert.equal(big.length, 10_000);
});

test('MySQL scrambles stay printable and NUL-free', () => {
  for (let i = 0; i < 500; i++) {
    const s = newScramble();
    assert.equal(s.length, 20);
    assert.ok(s.every((c) => c >= 0x21 && c <= 0x7e));
  }
});
