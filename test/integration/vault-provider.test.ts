// The vault provider over real HTTP against the Vault stand-in: token, AppRole and JWT
// (a real oidc-provider login) auth; KV v1 and v2; database dynamic credentials with
// username and password from ONE lease, renewal, and a fresh lease when renewal is
// refused; re-login after the Vault token expires; errors name provider and id only.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createMemoryAudit } from '../../broker/audit/memory-audit.js';
import { defaultProviders } from '../../broker/credentials/registry.js';
import type { Provider } from '../../broker/credentials/types.js';
import type { IdentityConfig, VaultIdentity } from '../../broker/identity/config.js';
import { createIdentityRuntime, type IdentityRuntime } from '../../broker/credentials/identity-runtime.js';
import { createMemoryTokenStore } from '../../broker/identity/token-store.js';
import { createLogger } from '../../broker/log.js';
import { startOidcProvider, type TestOidcProvider } from '../fixtures/oidc-provider.js';
import { waitFor } from '../fixtures/wait-for.js';
import { startVaultStandin, type VaultStandin } from '../fixtures/vault-standin.js';

const ROOT = 'hvs.root-token-for-tests-0123456789';
const SECRET_ID = 'approle-secret-id-4f3e2d1c';
let op: TestOidcProvider;
let vault: VaultStandin;
let runtime: IdentityRuntime;
let vaultProvider: Provider;
const store = createMemoryTokenStore();
const audit = createMemoryAudit();
const logs: string[] = [];
const errors: string[] = [];
const created: { username: string; password: string }[] = [];

const get = async (ids: string[]) => {
  try {
    return await vaultProvider.get(ids, { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    errors.push((err as Error).message);
    throw err;
  }
};
const text = (m: Map<string, { value: Buffer }>, id: string) => m.get(id)!.value.toString('utf8');

before(async () => {
  op = await startOidcProvider();
  vault = await startVaultStandin({
    rootTokens: [ROOT],
    approle: { roleId: 'role-app', secretId: SECRET_ID, tokenTtl: 2 },
    jwt: { issuer: op.issuer, audience: op.clientId, role: 'dev', tokenTtl: 600 },
    databaseRoles: { app: { ttl: 3, maxTtl: 3600 } },
    onCreateUser: async (u) => void created.push(u),
  });
  vault.kv1.set('app', { password: 'kv1-password-aa11' });
  vault.kv2.set('app', { password: 'kv2-password-bb22', port: 5432 });
  const dir = mkdtempSync(join(tmpdir(), 'sl-vault-'));
  writeFileSync(join(dir, 'secret-id'), SECRET_ID + '\n', { mode: 0o600 });
  const base = { address: vault.address, minLeaseTtlSeconds: 2, line: 1 } as const;
  const identities: IdentityConfig[] = [
    { type: 'oidc', name: 'corp', issuer: op.issuer, clientId: op.clientId, scopes: ['openid', 'offline_access'], flow: 'authorization_code', redirectPort: 0, line: 1 },
    { type: 'vault', name: 'tok', ...base, auth: { method: 'token', token: { provider: 'env', id: 'VAULT_TOKEN', line: 1 } } } satisfies VaultIdentity,
    { type: 'vault', name: 'app', ...base, auth: { method: 'approle', mount: 'approle', roleId: 'role-app', secretId: { provider: 'file', id: join(dir, 'secret-id'), line: 1 } } },
    { type: 'vault', name: 'sso', ...base, auth: { method: 'jwt', mount: 'jwt', role: 'dev', identity: 'corp' } },
    { type: 'vault', name: 'badtok', ...base, auth: { method: 'token', token: { provider: 'env', id: 'WRONG_TOKEN', line: 1 } } },
  ];
  runtime = createIdentityRuntime({
    audit,
    logger: createLogger({ level: 'debug', format: 'json', write: (l) => void logs.push(l) }),
    baseProviders: defaultProviders({ env: { VAULT_TOKEN: ROOT, WRONG_TOKEN: 'hvs.not-a-valid-token-000000000' } }),
    store,
    openBrowser: (url) => void op.approve(url),
    marginMs: 1_000,
    timeoutMs: 5_000,
  });
  runtime.apply(identities);
  vaultProvider = runtime.providers.find((p) => p.name === 'vault')!;
});
after(async () => {
  runtime?.close();
  await vault?.stop();
  await op?.stop();
});

test('token auth: KV v1 and KV v2 (path with data/), fields selected, no expiry', async () => {
  const got = await get(['tok:kv/app#password', 'tok:secret/data/app#password', 'tok:secret/data/app#port']);
  assert.equal(text(got, 'tok:kv/app#password'), 'kv1-password-aa11');
  assert.equal(text(got, 'tok:secret/data/app#password'), 'kv2-password-bb22');
  assert.equal(text(got, 'tok:secret/data/app#port'), '5432');
  assert.equal(got.get('tok:kv/app#password')!.expiresAt, undefined);
  await assert.rejects(get(['tok:secret/data/app#nope']), /provider 'vault' could not get 'tok:secret\/data\/app#nope': the secret at 'secret\/data\/app' has no text or number field 'nope'/);
  await assert.rejects(get(['tok:kv/missing#x']), /could not get 'tok:kv\/missing#x': Vault answered 404/);
  await assert.rejects(get(['badtok:kv/app#password']), /could not get 'badtok:kv\/app#password': Vault answered 403: permission denied/);
});

test('database creds: username and password come from one lease, even for concurrent connections', async () => {
  const ids = ['tok:database/creds/app#username', 'tok:database/creds/app#password'];
  const [a, b] = await Promise.all([get(ids), get(ids)]);
  assert.equal(vault.leases.length, 1, 'one lease for both fields and both callers');
  const lease = vault.leases[0]!;
  for (const got of [a, b]) {
    assert.equal(text(got, ids[0]!), lease.username);
    assert.equal(text(got, ids[1]!), lease.password);
    assert.ok(Math.abs(got.get(ids[1]!)!.expiresAt!.getTime() - lease.expiresAt) < 1500);
  }
  assert.deepEqual(created.map((c) => c.username), [lease.username]);
});

test('the lease is renewed when it nears expiry, and replaced by a fresh one when renewal is refused', async () => {
  const ids = ['tok:database/creds/app#username', 'tok:database/creds/app#password'];
  const first = vault.leases[0]!;
  // TTL 3 s, minimum 2 s: with under 2 s left the provider renews instead of reusing
  // (1.5 s left: inside that window, with room for the provider's later clock reading).
  const inRenewalWindow = () => Date.now() >= first.expiresAt - 1500;
  await waitFor('the lease to come within minLeaseTtlSeconds of its expiry', inRenewalWindow);
  const renewed = await get(ids);
  assert.equal(vault.calls.renewals, 1);
  assert.equal(text(renewed, ids[1]!), first.password, 'same lease, same password');
  assert.ok(renewed.get(ids[1]!)!.expiresAt!.getTime() > Date.now() + 2000);

  vault.refuseRenewals = true;
  // The renewal moved the stand-in's expiry on.
  await waitFor('the renewed lease to come within minLeaseTtlSeconds of its expiry', inRenewalWindow);
  const fresh = await get(ids);
  assert.equal(vault.calls.refusedRenewals, 1);
  assert.equal(vault.leases.length, 2);
  const second = vault.leases[1]!;
  assert.equal(text(fresh, ids[0]!), second.username);
  assert.equal(text(fresh, ids[1]!), second.password);
  assert.notEqual(second.username, first.username);
  vault.refuseRenewals = false;
});

test('AppRole: the secret id comes from a file; the Vault token is renewed by logging in again', async () => {
  const got = await get(['app:kv/app#password']);
  assert.equal(text(got, 'app:kv/app#password'), 'kv1-password-aa11');
  const logins = vault.calls.logins;
  const token = vault.issuedTokens.at(-1)!;
  await waitFor('the AppRole token (TTL 2 s) to expire in Vault', () => Date.now() > vault.tokenExpiresAt(token)!);
  await get(['app:kv/app#password']);
  assert.equal(vault.calls.logins, logins + 1);
});

test('JWT auth with the OIDC session ID token (checked by the stand-in against the JWKS)', async () => {
  await assert.rejects(get(['sso:kv/app#password']), /could not get 'sso:kv\/app#password': identity 'corp' is not logged in.*secretless-desktop login corp/);
  await runtime.sessions.login('corp');
  await runtime.sessions.waitForLogin('corp');
  const got = await get(['sso:secret/data/app#password']);
  assert.equal(text(got, 'sso:secret/data/app#password'), 'kv2-password-bb22');
  assert.ok(audit.records.some((r) => r.type === 'identity.exchanged' && r.identity === 'corp' && r.provider === 'vault'));
});

test('no Vault token, secret id, password or ID token in logs, audit records or errors', () => {
  const t = store.items.get('corp')!;
  const secrets = [ROOT, SECRET_ID, 'kv1-password-aa11', 'kv2-password-bb22', ...vault.issuedTokens, ...vault.leases.map((l) => l.password), t.idToken, t.refreshToken!];
  const output = logs.join('') + JSON.stringify(audit.records) + errors.join('\n');
  for (const s of secrets) assert.ok(!output.includes(s), 'a secret leaked');
});
