// The user's journey with the real command (run under scripts/with-keyring.sh):
// `secretless-desktop login corp` (URL printed, the browser plays the user), then
// `serve` picks the session up from the OS keychain and uses its ID token for Vault
// (JWT auth) to reach PostgreSQL with dynamic credentials; `psql` connects without a
// password. `logout corp` revokes and deletes the keychain item. Nothing written by
// any of these processes contains a token or password.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AsyncEntry } from '@napi-rs/keyring';
import { createHttpBrokerApi } from '../../broker/control/http-client.js';
import { TOKEN_SERVICE, type StoredTokens } from '../../broker/identity/token-store.js';
import { freePort } from '../fixtures/free-port.js';
import { startOidcProvider, type TestOidcProvider } from '../fixtures/oidc-provider.js';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { clientEnv, psql, run } from '../fixtures/run.js';
import { startVaultStandin, type VaultStandin } from '../fixtures/vault-standin.js';
import { CLI, startServe } from '../fixtures/serve.js';
import { waitFor } from '../fixtures/wait-for.js';

let op: TestOidcProvider;
let vault: VaultStandin;
let cluster: PgCluster;
let dir: string;
let configPath: string;
let listenPort: number;
const outputs: string[] = [];
const tokens: string[] = [];

const env = () => clientEnv({ XDG_STATE_HOME: join(dir, 'state'), XDG_CONFIG_HOME: join(dir, 'config') });
const item = () => new AsyncEntry(TOKEN_SERVICE, 'corp', { linux: { store: 'secret-service' } });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sl-idcli-'));
  op = await startOidcProvider();
  cluster = await startPgCluster();
  vault = await startVaultStandin({
    jwt: { issuer: op.issuer, audience: op.clientId, role: 'dev', tokenTtl: 600 },
    databaseRoles: { app: { ttl: 600, maxTtl: 3600 } },
    onCreateUser: async ({ username, password }) => void (await cluster.psql(`CREATE ROLE "${username}" LOGIN PASSWORD '${password}'`)),
  });
  listenPort = await freePort();
  configPath = join(dir, 'secretless.yml');
  writeFileSync(
    configPath,
    `version: "2"
identities:
  corp:
    issuer: ${op.issuer}
    clientId: ${op.clientId}
  vault:
    type: vault
    address: ${vault.address}
    auth: { method: jwt, role: dev, identity: corp }
services:
  db:
    connector: pg
    listenOn: tcp://127.0.0.1:${listenPort}
    credentials:
      host: 127.0.0.1
      port: ${cluster.port}
      username: { from: vault, get: "vault:database/creds/app#username" }
      password: { from: vault, get: "vault:database/creds/app#password" }
      sslmode: disable
`,
  );
});
after(async () => {
  await vault?.stop();
  await cluster?.stop();
  await op?.stop();
});

test('login prints the URL, completes in the browser and stores the session in the OS keychain', async () => {
  const child = spawn(process.execPath, [CLI, 'login', 'corp', '-f', configPath, '--no-browser'], { env: env() });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  const url = await waitFor(() => `a login URL in: ${out}`, () => /(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)/.exec(out)?.[1]);
  await op.approve(url);
  assert.equal(await exited, 0, out);
  outputs.push(out);
  assert.match(out, /logged in to 'corp' until \d{4}-/);
  const stored = JSON.parse((await item().getPassword())!) as StoredTokens;
  tokens.push(stored.idToken, stored.refreshToken!, stored.accessToken!);
});

test('serve resumes the session from the keychain: psql reaches PostgreSQL through Vault dynamic creds', async () => {
  const serve = startServe(['-f', configPath, '--log-level', 'debug', '--audit-log', join(dir, 'audit.jsonl')], env());
  try {
    await serve.ready();
    const r = await psql('127.0.0.1', listenPort, 'select current_user');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), vault.leases[0]!.username);
    outputs.push(r.stdout + r.stderr);
  } finally {
    await serve.stop();
    outputs.push(serve.output(), readFileSync(join(dir, 'audit.jsonl'), 'utf8'));
  }
  assert.match(outputs[outputs.length - 1]!, /"type":"identity.exchanged","identity":"corp","provider":"vault"/);
});

test('logout revokes and removes the keychain item; unknown names are a usage error', async () => {
  const revocations = op.revocations;
  const r = await run(process.execPath, [CLI, 'logout', 'corp', '-f', configPath], { env: env() });
  outputs.push(r.stdout + r.stderr);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /logged out of 'corp'/);
  assert.ok(op.revocations > revocations);
  assert.equal(await item().getPassword(), null);

  const bad = await run(process.execPath, [CLI, 'login', 'nope', '-f', configPath], { env: env() });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /no oidc identity named 'nope' \(configured: corp\)/);
});

test("the UI's Login button: serve --ui returns the login URL through the control API, the browser completes it, the session turns active", async () => {
  const serve = startServe(['--ui', '-f', configPath, '--log-level', 'debug', '--audit-log', join(dir, 'audit-ui.jsonl')], env());
  try {
    const ui = await serve.ready();
    assert.ok(ui.url && ui.token, `a UI URL in: ${serve.output()}`);
    const api = createHttpBrokerApi({ baseUrl: ui.url, token: ui.token });
    assert.equal((await api.listSessions()).find((x) => x.name === 'corp')?.state, 'login-needed', 'logged out by the previous test');
    const start = await api.login('corp');
    assert.equal(start.flow, 'authorization_code');
    if (start.flow !== 'authorization_code') return;
    await op.approve(start.url);
    await waitFor('the session to turn active', async () => (await api.listSessions()).find((x) => x.name === 'corp')?.state === 'active');
    const stored = JSON.parse((await item().getPassword())!) as StoredTokens;
    tokens.push(stored.idToken, stored.refreshToken!, stored.accessToken!);
    const r = await psql('127.0.0.1', listenPort, 'select 1');
    assert.equal(r.code, 0, r.stderr);
    await api.logout('corp');
    assert.equal(await item().getPassword(), null);
  } finally {
    await serve.stop();
    outputs.push(serve.output(), readFileSync(join(dir, 'audit-ui.jsonl'), 'utf8'));
  }
  assert.match(outputs[outputs.length - 1]!, /"type":"identity.login","identity":"corp","flow":"authorization_code"/);
});

test('a login and a logout in a terminal reach a running serve --ui at once: its session state and new connections follow', async () => {
  const child = spawn(process.execPath, [CLI, 'serve', '--ui', '-f', configPath, '--log-level', 'debug', '--audit-log', join(dir, 'audit-cross.jsonl')], { env: env() });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  /** Waits for the broker to report the state (a condition, bounded only as a guard). */
  const stateBecomes = async (api: ReturnType<typeof createHttpBrokerApi>, want: string): Promise<string | undefined> => {
    let state: string | undefined;
    await waitFor(() => `session state ${want} (last ${state})`, async () => (state = (await api.listSessions()).find((x) => x.name === 'corp')?.state) === want).catch(() => {});
    return state;
  };
  try {
    const ui = await waitFor(() => `a UI URL in: ${out}`, () => {
      if (child.exitCode !== null) throw new Error(`serve exited: ${out}`);
      return /(http:\/\/127\.0\.0\.1:\d+)\/#token=([\w-]+)/.exec(out);
    });
    const api = createHttpBrokerApi({ baseUrl: ui[1]!, token: ui[2]! });
    assert.equal((await api.listSessions()).find((x) => x.name === 'corp')?.state, 'login-needed');

    const login = spawn(process.execPath, [CLI, 'login', 'corp', '-f', configPath, '--no-browser'], { env: env() });
    let loginOut = '';
    login.stdout.on('data', (d) => (loginOut += d));
    login.stderr.on('data', (d) => (loginOut += d));
    const loginExited = new Promise<number | null>((r) => login.on('exit', r));
    const url = await waitFor(() => `a login URL in: ${loginOut}`, () => /(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)/.exec(loginOut)?.[1]);
    await op.approve(url);
    assert.equal(await loginExited, 0, loginOut);
    outputs.push(loginOut);
    assert.equal(await stateBecomes(api, 'active'), 'active', 'the running broker saw the login');
    const stored = JSON.parse((await item().getPassword())!) as StoredTokens;
    tokens.push(stored.idToken, stored.refreshToken!, stored.accessToken!);
    const before = await psql('127.0.0.1', listenPort, 'select 1');
    assert.equal(before.code, 0, before.stderr);

    const logout = await run(process.execPath, [CLI, 'logout', 'corp', '-f', configPath], { env: env() });
    outputs.push(logout.stdout + logout.stderr);
    assert.equal(logout.code, 0, logout.stderr);
    assert.equal(await stateBecomes(api, 'logged-out'), 'logged-out', 'the running broker saw the logout');
    // No credential obtained with the old session (the Vault token, its lease) serves a new connection.
    const after = await psql('127.0.0.1', listenPort, 'select 1');
    assert.notEqual(after.code, 0, 'a connection after the logout must fail');
    assert.match(after.stderr, /a credential provider failed/);
  } finally {
    child.kill('SIGTERM');
    await exited;
    outputs.push(out, readFileSync(join(dir, 'audit-cross.jsonl'), 'utf8'));
  }
  assert.match(out, /identity changed by another process; reading the OS keychain again .*change=logout/);
});

test('no token or password in anything the commands printed or wrote', () => {
  const secrets = [...tokens, ...vault.issuedTokens, ...vault.leases.map((l) => l.password)];
  assert.ok(secrets.length >= 5);
  const all = outputs.join('\n');
  for (const s of secrets) assert.ok(!all.includes(s), 'a secret leaked');
});
