// Which notifications the desktop app shows, decided without Electron.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TargetInfo } from '../../broker/api.js';
import { createNotifier } from '../../electron/notify.js';
import type { BrokerErrorCode } from '../../broker/errors.js';

const now = Date.parse('2026-01-01T12:00:00Z');
const at = (minutes: number) => new Date(now + minutes * 60_000).toISOString();
const listening = (name: string, extra: Partial<TargetInfo> = {}): TargetInfo => ({
  name,
  connector: 'pg',
  listenOn: 'tcp://127.0.0.1:0',
  health: { type: 'listening' },
  status: { state: 'listening', address: 'tcp://127.0.0.1:5433' },
  connections: 1,
  ...extra,
});
const stopped = (name: string): TargetInfo => ({ ...listening(name), status: { state: 'stopped' }, connections: 0 });

test('a rotated credential is announced for a running target only', () => {
  const n = createNotifier();
  const event = { type: 'credential.rotated', name: 'db', provider: 'file', id: '/run/pw' } as const;
  const shown = n.onEvent(event, [listening('db')], now);
  assert.equal(shown?.kind, 'rotated');
  assert.equal(shown?.title, 'Credential rotated for db');
  assert.equal(n.onEvent(event, [stopped('db')], now), undefined);
  assert.equal(n.onEvent(event, [], now), undefined);
});

test('expiring credentials: only within the configured margin, once per expiry time', () => {
  const n = createNotifier({ expiryMarginMs: 15 * 60_000 });
  const event = (minutes: number) => ({ type: 'credential.expiring', name: 'db', provider: 'aws-sts', id: 'role', expiresAt: at(minutes) }) as const;
  assert.equal(n.onEvent(event(20), [listening('db')], now), undefined, 'outside the margin');
  const first = n.onEvent(event(14), [listening('db')], now);
  assert.equal(first?.kind, 'expiring');
  assert.equal(first?.title, 'The credential for db expires in 14 minutes');
  assert.equal(n.onEvent(event(14), [listening('db')], now + 1000), undefined, 'not twice for the same expiry');
  // The periodic check sees the same expiry: still not twice.
  assert.deepEqual(n.checkExpiries([listening('db', { credentialExpiresAt: at(14) })], [], now), []);
  // A renewed credential with a new expiry is announced again when it nears.
  assert.equal(n.onEvent(event(74), [listening('db')], now + 60 * 60_000)?.kind, 'expiring');
});

test('periodic check: running targets and sessions near expiry, expired ones, and nothing for stopped targets', () => {
  const n = createNotifier({ expiryMarginMs: 10 * 60_000 });
  const out = n.checkExpiries(
    [listening('soon', { credentialExpiresAt: at(5) }), listening('later', { credentialExpiresAt: at(60) }), { ...stopped('off'), credentialExpiresAt: at(1) }],
    [
      { name: 'corp', issuer: 'https://idp', state: 'active', expiresAt: at(3) },
      { name: 'gone', issuer: 'https://idp', state: 'active', expiresAt: at(-1) },
      { name: 'out', issuer: 'https://idp', state: 'logged-out', expiresAt: at(1) },
    ],
    now,
  );
  assert.deepEqual(
    out.map((x) => [x.kind, x.title]),
    [
      ['expiring', 'The credential for soon expires in 5 minutes'],
      ['expiring', 'The corp session expires in 3 minutes'],
      ['expired', 'The gone session has expired'],
    ],
  );
  assert.deepEqual(n.checkExpiries([listening('soon', { credentialExpiresAt: at(5) })], [], now + 30_000), []);
});

test('session expiring and expired events', () => {
  const n = createNotifier({ expiryMarginMs: 10 * 60_000 });
  assert.equal(n.onEvent({ type: 'session.expiring', identity: 'corp', expiresAt: at(30) }, [], now), undefined);
  assert.equal(n.onEvent({ type: 'session.expiring', identity: 'corp', expiresAt: at(2) }, [], now)?.title, 'The corp session expires in 2 minutes');
  assert.equal(n.onEvent({ type: 'session.expired', identity: 'corp' }, [], now)?.kind, 'expired');
});

test('a target failing to start is announced with its reason', () => {
  const n = createNotifier();
  const shown = n.onEvent({ type: 'target.failed', name: 'db', reason: 'listen EADDRINUSE 127.0.0.1:5433' }, [], now);
  assert.deepEqual([shown?.kind, shown?.title, shown?.body], ['failed', 'db failed to start', 'listen EADDRINUSE 127.0.0.1:5433']);
});

test('auth failures are announced, at most once per target per quiet period; other failures are not', () => {
  const n = createNotifier({ authFailureQuietMs: 60_000 });
  const fail = (code: BrokerErrorCode, name = 'db') => ({ type: 'connection.failed', name, connectionId: 'c1', code, reason: `${code} happened` }) as const;
  assert.equal(n.onEvent(fail('target_rejected_credentials'), [listening('db')], now)?.kind, 'auth-failed');
  assert.equal(n.onEvent(fail('target_rejected_credentials'), [listening('db')], now + 10_000), undefined, 'quiet period');
  assert.equal(n.onEvent(fail('provider_failed', 'other'), [listening('other')], now + 10_000)?.kind, 'auth-failed', 'per target');
  assert.equal(n.onEvent(fail('provider_failed'), [listening('db')], now + 61_000)?.kind, 'auth-failed', 'after the quiet period');
  assert.equal(n.onEvent(fail('target_unreachable', 'x'), [], now), undefined);
  assert.equal(n.onEvent({ type: 'connection.opened', name: 'db', connectionId: 'c' }, [], now), undefined);
});
