// The RFC 8252 loopback redirect receiver: 127.0.0.1 only, one path, one request,
// cancellable; and session resume decisions from stored tokens (no network needed).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BrokerEvent } from '../../broker/api.js';
import { createMemoryAudit } from '../../broker/audit/memory-audit.js';
import type { OidcIdentity } from '../../broker/identity/config.js';
import { startLoopbackReceiver } from '../../broker/identity/loopback.js';
import { createIdentitySessions } from '../../broker/identity/sessions.js';
import { createMemoryTokenStore } from '../../broker/identity/token-store.js';
import { createLogger } from '../../broker/log.js';

test('the receiver listens on 127.0.0.1 with a random port and takes exactly one callback', async () => {
  const r = await startLoopbackReceiver();
  const url = new URL(r.redirectUri);
  assert.equal(url.hostname, '127.0.0.1');
  assert.ok(Number(url.port) > 0);
  assert.equal(url.pathname, '/callback');
  assert.equal((await fetch(`http://127.0.0.1:${url.port}/other?code=x`)).status, 404);
  const res = await fetch(`${r.redirectUri}?code=abc&state=s1`);
  assert.equal(res.status, 200);
  assert.match(await res.text(), /Login received/);
  const got = await r.callback;
  assert.equal(got.searchParams.get('code'), 'abc');
  assert.equal(got.searchParams.get('state'), 's1');
  await assert.rejects(fetch(`${r.redirectUri}?code=again`), 'closed after the first callback');
});

test('a cancelled login closes the receiver and rejects', async () => {
  const ac = new AbortController();
  const r = await startLoopbackReceiver({ signal: ac.signal });
  ac.abort();
  await assert.rejects(r.callback, /cancelled/);
  await assert.rejects(fetch(r.redirectUri));
});

const corp: OidcIdentity = { type: 'oidc', name: 'corp', issuer: 'https://idp.example', clientId: 'c', scopes: ['openid'], flow: 'authorization_code', redirectPort: 0, line: 1 };

function sessions(stored?: { issuer?: string; expiresInMs: number; refresh?: boolean }) {
  const store = createMemoryTokenStore();
  if (stored) {
    store.items.set('corp', {
      issuer: stored.issuer ?? corp.issuer,
      clientId: 'c',
      idToken: 'header.payload.sig',
      ...(stored.refresh ? { refreshToken: 'rt' } : {}),
      expiresAt: new Date(Date.now() + stored.expiresInMs).toISOString(),
    });
  }
  const m = createIdentitySessions({ store, audit: createMemoryAudit(), logger: createLogger({ write: () => {} }), refreshMarginMs: 1000 });
  const events: BrokerEvent[] = [];
  m.subscribe((e) => void events.push(e));
  m.apply([corp, { type: 'aws', name: 'dev', durationSeconds: 3600, sessionName: 's', region: 'r', endpoints: {}, line: 2 }]);
  return { m, store, events };
}

test('resume: a valid stored session is active at once; only oidc entries are sessions', async () => {
  const { m, events } = sessions({ expiresInMs: 600_000, refresh: true });
  await m.resume();
  assert.deepEqual(m.list().map((s) => [s.name, s.state]), [['corp', 'active']]);
  assert.equal(events[0]!.type, 'session.changed');
  assert.equal((await m.idToken('corp', { signal: new AbortController().signal })).token, 'header.payload.sig');
  m.close();
});

test('resume: tokens of another issuer, or expired without a refresh token, mean login-needed', async () => {
  for (const stored of [{ issuer: 'https://other.example', expiresInMs: 600_000, refresh: true }, { expiresInMs: -1000 }]) {
    const { m } = sessions(stored);
    await m.resume();
    assert.equal(m.list()[0]!.state, 'login-needed');
    await assert.rejects(m.idToken('corp', { signal: new AbortController().signal }), /identity 'corp' is not logged in .*secretless-desktop login corp/);
    m.close();
  }
  const { m } = sessions();
  await assert.rejects(m.login('nope'), /no oidc identity named 'nope'/);
  await assert.rejects(m.login('dev'), /no oidc identity named 'dev'/);
});
