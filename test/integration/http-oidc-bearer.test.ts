// Bearer from a real OIDC login: an http service whose token is the session's current
// access token (`{from: oidc, get: corp#access_token}`) calls the provider's own userinfo
// endpoint through the broker; before login the client gets a clear 503 saying to log in,
// after logout the provider's 401 for the revoked token.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createMemoryAudit } from '../../broker/audit/memory-audit.js';
import { parseIdentities } from '../../broker/identity/config.js';
import { createIdentityRuntime, type IdentityRuntime } from '../../broker/credentials/identity-runtime.js';
import { createMemoryTokenStore } from '../../broker/identity/token-store.js';
import { createLogger } from '../../broker/log.js';
import { defaultProviders } from '../../broker/credentials/registry.js';
import { waitFor } from '../fixtures/wait-for.js';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { startOidcProvider, type TestOidcProvider } from '../fixtures/oidc-provider.js';

let op: TestOidcProvider;
let runtime: IdentityRuntime;
let tb: TestBroker;
const store = createMemoryTokenStore();
const responses: string[] = [];

before(async () => {
  op = await startOidcProvider({ idTokenTtl: 600 });
  runtime = createIdentityRuntime({
    audit: createMemoryAudit(),
    logger: createLogger({ level: 'error', format: 'json', write: () => {} }),
    baseProviders: defaultProviders({ env: {} }),
    store,
    openBrowser: (url) => void op.approve(url, { user: 'dana' }),
  });
  const identities = `identities:
  corp:
    issuer: ${op.issuer}
    clientId: ${op.clientId}
    scopes: [openid, offline_access, email]
`;
  tb = await startTestBroker(
    `version: "2"
${identities}services:
  me:
    connector: http
    listenOn: tcp://127.0.0.1:0
    credentials:
      token: { from: oidc, get: "corp#access_token" }
    config: { upstream: "${op.issuer}" }
`,
    { providers: runtime.providers },
  );
  runtime.apply(parseIdentities({ value: { corp: { issuer: op.issuer, clientId: op.clientId, scopes: ['openid', 'offline_access', 'email'] } }, lineOf: () => 1 }).identities);
});

after(async () => {
  await tb?.stop();
  runtime?.close();
  await op?.stop();
});

async function me(): Promise<{ status: number; text: string }> {
  const { host, port } = tb.tcp('me');
  const res = await fetch(`http://${host}:${port}/me`, { headers: { accept: 'application/json' } });
  const text = await res.text();
  responses.push(text);
  return { status: res.status, text };
}

test('before login: 503 with the provider error saying to log in', async () => {
  const r = await me();
  assert.equal(r.status, 503);
  const body = JSON.parse(r.text) as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'provider_failed');
  assert.match(body.error.message, /identity 'corp' is not logged in.*secretless-desktop login corp/);
});

test('after a real login, the userinfo endpoint answers through the broker with the session\'s access token', async () => {
  await runtime.sessions.login('corp');
  await runtime.sessions.waitForLogin('corp');
  const r = await me();
  assert.equal(r.status, 200, r.text);
  const info = JSON.parse(r.text) as { sub: string; email: string };
  assert.equal(info.sub, 'dana');
  assert.equal(info.email, 'dana@example.test');
});

test('after logout: the revoked token is refused (401, recorded as rejected credentials), and no token anywhere', async () => {
  const token = store.items.get('corp')?.accessToken;
  assert.ok(token);
  await runtime.sessions.logout('corp');
  // The resolver still holds the token until its expiry; the provider revoked it, so the
  // upstream's own 401 comes back (or the broker's 503 once the value is gone).
  const r = await me();
  assert.ok(r.status === 401 || r.status === 503, `status ${r.status}`);
  // (The native HTTP lane sends its records in batches, within a second.)
  if (r.status === 401) await waitFor('the 401 record', () => tb.audit.records.some((x) => x.type === 'http.request' && x.service === 'me' && x.status === 401 && x.outcome === 'target_rejected_credentials'));
  else assert.match(r.text, /not logged in/);
  const all = tb.output() + responses.join('\n');
  assert.ok(!all.includes(token!), 'the access token leaked');
});
