// OIDC sessions against a real oidc-provider, with a real browser playing the user and
// the real OS keychain (gnome-keyring; run under scripts/with-keyring.sh): login with
// the authorization-code flow and with the device flow, refresh before expiry, resume
// after a "restart" from the keychain, logout with revocation, refusal of tampered and
// wrong-issuer ID tokens, and no token anywhere in logs, audit records or events.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { AsyncEntry } from '@napi-rs/keyring';
import type { BrokerEvent } from '../../broker/api.js';
import { createMemoryAudit } from '../../broker/audit/memory-audit.js';
import type { OidcIdentity } from '../../broker/identity/config.js';
import { createIdentitySessions, type IdentitySessionManager } from '../../broker/identity/sessions.js';
import { createKeychainTokenStore, type StoredTokens } from '../../broker/identity/token-store.js';
import { createLogger } from '../../broker/log.js';
import { startOidcProvider, type TestOidcProvider } from '../fixtures/oidc-provider.js';
import { waitFor } from '../fixtures/wait-for.js';

let op: TestOidcProvider;
const keychainService = `secretless-test-${randomBytes(4).toString('hex')}`;
const store = createKeychainTokenStore({ service: keychainService });
const audit = createMemoryAudit();
const logs: string[] = [];
const events: BrokerEvent[] = [];
const seenTokens = new Set<string>();
const managers: IdentitySessionManager[] = [];

before(async () => {
  op = await startOidcProvider({ idTokenTtl: 6 });
});
after(async () => {
  for (const m of managers) m.close();
  await op?.stop();
});

function identity(name: string, flow: OidcIdentity['flow'] = 'authorization_code'): OidcIdentity {
  return { type: 'oidc', name, issuer: op.issuer, clientId: op.clientId, scopes: ['openid', 'offline_access', 'email'], flow, redirectPort: 0, line: 1 };
}

function manager(identities: OidcIdentity[], opts: { margin?: number; browser?: boolean } = {}): IdentitySessionManager {
  const m = createIdentitySessions({
    store,
    audit,
    logger: createLogger({ level: 'debug', format: 'json', write: (l) => void logs.push(l) }),
    refreshMarginMs: opts.margin ?? 2_000,
    openBrowser: (url) => {
      if (opts.browser !== false) void op.approve(url).catch((err) => logs.push(`browser: ${(err as Error).message}`));
    },
  });
  m.apply(identities);
  m.subscribe((e) => events.push(e));
  managers.push(m);
  return m;
}

async function stored(name: string): Promise<StoredTokens> {
  const text = await new AsyncEntry(keychainService, name, { linux: { store: 'secret-service' } }).getPassword();
  assert.ok(text, `a keychain item for ${name}`);
  const t = JSON.parse(text) as StoredTokens;
  for (const v of [t.idToken, t.refreshToken, t.accessToken]) if (v) seenTokens.add(v);
  return t;
}

test('authorization code flow in the browser: PKCE + loopback redirect, tokens land in the OS keychain only', async () => {
  const m = manager([identity('corp')]);
  const start = await m.login('corp');
  assert.equal(start.flow, 'authorization_code');
  const url = new URL((start as { url: string }).url);
  assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
  assert.match(url.searchParams.get('redirect_uri')!, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
  assert.ok(url.searchParams.get('state') && url.searchParams.get('nonce'));
  const info = await m.waitForLogin('corp');
  assert.equal(info.state, 'active');
  assert.ok(Date.parse(info.expiresAt!) > Date.now());
  const t = await stored('corp');
  assert.ok(t.refreshToken, 'a refresh token was stored');
  assert.equal(t.issuer, op.issuer);
  assert.ok(audit.records.some((r) => r.type === 'identity.login' && r.identity === 'corp' && r.flow === 'authorization_code'));
  assert.ok(events.some((e) => e.type === 'session.changed' && e.session.name === 'corp' && e.session.state === 'active'));
  // The token handed out is the stored one (refreshed first if it had under 5 s left).
  const { token } = await m.idToken('corp', { signal: AbortSignal.timeout(5000) });
  assert.equal(token, (await stored('corp')).idToken);
});

test('the session is refreshed before the ID token expires, and resumes from the keychain after a restart', async () => {
  const before = await stored('corp');
  const refreshesBefore = op.grants.refresh_token ?? 0;
  const refreshed = () => audit.records.filter((r) => r.type === 'identity.refreshed' && r.identity === 'corp').length;
  const recordsBefore = refreshed();
  // ID tokens live 6 s, refresh margin 2 s: the scheduler refreshes about 4 s after login.
  await waitFor('a refresh', () => refreshed() > recordsBefore);
  assert.ok((op.grants.refresh_token ?? 0) > refreshesBefore);
  const after = await stored('corp');
  assert.ok(Date.parse(after.expiresAt) > Date.parse(before.expiresAt), 'a later expiry');
  assert.notEqual(after.idToken, before.idToken);

  // A new process: nothing in memory, the keychain has the session; no browser needed.
  managers.shift()!.close();
  const restarted = manager([identity('corp')], { browser: false });
  await restarted.resume();
  const s = restarted.list().find((x) => x.name === 'corp')!;
  assert.equal(s.state, 'active');
  const { token } = await restarted.idToken('corp', { signal: AbortSignal.timeout(5000) });
  assert.ok(token.split('.').length === 3);
});

test('logout revokes at the provider, deletes the keychain item, and the session needs a login', async () => {
  const m = managers[managers.length - 1]!;
  await stored('corp');
  const revokedBefore = op.revocations;
  await m.logout('corp');
  assert.ok(op.revocations > revokedBefore, 'the provider saw the revocation');
  assert.equal(await new AsyncEntry(keychainService, 'corp', { linux: { store: 'secret-service' } }).getPassword(), null);
  assert.equal(m.list()[0]!.state, 'logged-out');
  assert.ok(audit.records.some((r) => r.type === 'identity.logout' && r.identity === 'corp' && r.revoked));
  await assert.rejects(m.idToken('corp', { signal: AbortSignal.timeout(5000) }), /not logged in.*secretless-desktop login corp/);
});

test('device flow: the user approves the code in the browser', async () => {
  const m = manager([identity('headless', 'device_code')], { browser: false });
  const start = await m.login('headless');
  assert.equal(start.flow, 'device_code');
  if (start.flow !== 'device_code') return;
  assert.ok(start.userCode.length >= 8);
  await op.approve(start.verificationUri, { userCode: start.userCode });
  // The poll may finish the login before anyone waits for it: waiting afterwards still
  // gives the outcome (this used to fail with "no login in progress").
  await waitFor('the session to turn active', () => m.list()[0]!.state === 'active');
  const info = await m.waitForLogin('headless');
  assert.equal(info.state, 'active');
  assert.ok((await stored('headless')).refreshToken);
  assert.ok(audit.records.some((r) => r.type === 'identity.login' && r.identity === 'headless' && r.flow === 'device_code'));
  await m.logout('headless');
});

test('a tampered ID token and a wrong-issuer ID token are refused with a clear message', async () => {
  try {
    op.tamper = 'signature';
    const m = manager([identity('tampered')]);
    await m.login('tampered');
    await assert.rejects(m.waitForLogin('tampered'), (err: Error) => /login to 'tampered' failed: .*signature/i.test(err.message));
    assert.equal(m.list()[0]!.state, 'login-needed');

    op.tamper = 'issuer';
    const m2 = manager([identity('wrongiss')]);
    await m2.login('wrongiss');
    await assert.rejects(m2.waitForLogin('wrongiss'), (err: Error) => /login to 'wrongiss' failed: .*iss/i.test(err.message));
    assert.ok(audit.records.some((r) => r.type === 'identity.failed' && r.identity === 'wrongiss' && r.step === 'authorization_code'));
    assert.equal(await new AsyncEntry(keychainService, 'wrongiss', { linux: { store: 'secret-service' } }).getPassword(), null);
  } finally {
    op.tamper = 'none';
  }
});

test('a provider outage during refresh: refresh-failed and session.expiring, then active again once it answers', async () => {
  const m = manager([identity('flaky')]);
  await m.login('flaky');
  await m.waitForLogin('flaky');
  op.unavailable = true;
  try {
    await waitFor('refresh-failed', () => events.some((e) => e.type === 'session.changed' && e.session.name === 'flaky' && e.session.state === 'refresh-failed'));
  } finally {
    op.unavailable = false;
  }
  assert.ok(events.some((e) => e.type === 'session.expiring' && e.identity === 'flaky'));
  assert.match(m.list()[0]!.reason!, /unexpected HTTP response status code \(HTTP 503\)/);
  await waitFor('the retry', () => audit.records.some((r) => r.type === 'identity.refreshed' && r.identity === 'flaky'));
  assert.equal(m.list()[0]!.state, 'active');
  assert.ok(!events.some((e) => e.type === 'session.expired' && e.identity === 'flaky'));
  await stored('flaky');
  await m.logout('flaky');
});

test('a refresh token the provider no longer honours: login-needed, session.expired, keychain item gone', async () => {
  const m = manager([identity('revoked')]);
  await m.login('revoked');
  await m.waitForLogin('revoked');
  const t = await stored('revoked');
  // Revoked behind the broker's back (an admin, a password change).
  const res = await fetch(`${op.issuer}/token/revocation`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: t.refreshToken!, client_id: op.clientId }),
  });
  assert.equal(res.status, 200);
  await waitFor('the refresh to fail', () => events.some((e) => e.type === 'session.expired' && e.identity === 'revoked'));
  const s = m.list()[0]!;
  assert.equal(s.state, 'login-needed');
  assert.match(s.reason!, /refresh refused by the provider: invalid_grant/);
  assert.ok(audit.records.some((r) => r.type === 'identity.failed' && r.identity === 'revoked' && r.step === 'refresh'));
  assert.equal(await new AsyncEntry(keychainService, 'revoked', { linux: { store: 'secret-service' } }).getPassword(), null);
  await assert.rejects(m.idToken('revoked', { signal: AbortSignal.timeout(5000) }), /not logged in/);
});

test('no token appears in logs, audit records or events', () => {
  assert.ok(seenTokens.size >= 4);
  const output = logs.join('') + JSON.stringify(audit.records) + JSON.stringify(events);
  for (const t of seenTokens) assert.ok(!output.includes(t), 'a token leaked');
  assert.ok(!/eyJ[\w-]+\.eyJ/.test(output), 'something JWT-shaped leaked');
});
