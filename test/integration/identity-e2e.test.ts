// End to end, the secretless way: the user logs in once (real oidc-provider, real
// browser, tokens in the real OS keychain: run under scripts/with-keyring.sh); the
// broker exchanges the ID token at STS for role credentials, signs an RDS IAM token
// with them, and logs in to Vault with the same ID token for dynamic database creds.
// A real PostgreSQL checks both: the IAM token through its `ldap` auth method, asking
// an RDS-style verifier (SigV4 recomputed with the key the STS stand-in issued), and
// the Vault user created by the stand-in's hook as Vault's database engine would.
// Then the lease rotates: new connections get the new user, the open one keeps running,
// and exactly one credential.rotated event is emitted. Nothing secret in any output.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { AsyncEntry } from '@napi-rs/keyring';
import { createMemoryAudit } from '../../broker/audit/memory-audit.js';
import { createBroker, type Broker } from '../../broker/broker.js';
import { parseConfig } from '../../broker/config/parse.js';
import { builtinConnectors, connectorSpecs } from '../../broker/connectors/registry.js';
import { createProviderRegistry, defaultProviders } from '../../broker/credentials/registry.js';
import { createResolver, type Resolver } from '../../broker/credentials/resolver.js';
import { createIdentityRuntime, type IdentityRuntime } from '../../broker/credentials/identity-runtime.js';
import { createKeychainTokenStore, type StoredTokens } from '../../broker/identity/token-store.js';
import { createLogger } from '../../broker/log.js';
import { startOidcProvider, type TestOidcProvider } from '../fixtures/oidc-provider.js';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { startAwsStandin, startRdsIamAuthenticator, type AwsStandin } from '../fixtures/sts-standin.js';
import { startVaultStandin, type VaultStandin } from '../fixtures/vault-standin.js';
import { waitFor } from '../fixtures/wait-for.js';

process.env.AWS_EC2_METADATA_DISABLED = 'true';
const ROLE = 'arn:aws:iam::123456789012:role/db-dev';
const keychainService = `secretless-e2e-${randomBytes(4).toString('hex')}`;
let op: TestOidcProvider;
let aws: AwsStandin;
let vault: VaultStandin;
let cluster: PgCluster;
let rdsAuth: Awaited<ReturnType<typeof startRdsIamAuthenticator>>;
let runtime: IdentityRuntime;
let resolver: Resolver;
let broker: Broker;
const audit = createMemoryAudit();
const logs: string[] = [];
/** The rotation records the API layer turns into credential.rotated events. */
const rotations = () => audit.records.filter((r) => r.type === 'credential.rotated');
const clientErrors: string[] = [];

before(async () => {
  op = await startOidcProvider({ idTokenTtl: 600 });
  aws = await startAwsStandin({ issuer: op.issuer, audience: op.clientId, roles: { [ROLE]: { maxSessionDuration: 3600 } } });
  cluster = await startPgCluster({ tls: true });
  vault = await startVaultStandin({
    jwt: { issuer: op.issuer, audience: op.clientId, role: 'dev', tokenTtl: 600 },
    databaseRoles: { app: { ttl: 5, maxTtl: 3600 } },
    // Vault's database engine runs its creation statements before it answers.
    onCreateUser: async ({ username, password }) => void (await cluster.psql(`CREATE ROLE "${username}" LOGIN PASSWORD '${password}'`)),
  });
  rdsAuth = await startRdsIamAuthenticator(aws, { host: '127.0.0.1', port: cluster.port });
  await cluster.psql('CREATE ROLE iam_user LOGIN');
  const hba = join(cluster.dataDir, 'pg_hba.conf');
  const ldap = `hostssl all iam_user 127.0.0.1/32 ldap ldapserver=127.0.0.1 ldapport=${rdsAuth.port} ldapprefix="cn=" ldapsuffix=",dc=rds"\n`;
  await writeFile(hba, ldap + (await readFile(hba, 'utf8')));
  await cluster.psql('SELECT pg_reload_conf()');

  const logger = createLogger({ level: 'debug', format: 'json', write: (l) => void logs.push(l) });
  const base = defaultProviders({ env: {} });
  runtime = createIdentityRuntime({
    audit,
    logger,
    baseProviders: base,
    store: createKeychainTokenStore({ service: keychainService }),
    openBrowser: (url) => void op.approve(url),
    marginMs: 3_000,
  });
  const registry = createProviderRegistry([...base, ...runtime.providers]);
  // Cached values are refetched 3 s before they expire: the 5 s lease is due after 2 s.
  resolver = createResolver({ registry, audit, logger, expiryMarginMs: 3_000 });
  const connectors = builtinConnectors();
  broker = createBroker({ logger, audit, resolver, connectors, drainMs: 500, stateDir: await mkdtemp(join(tmpdir(), 'sd-ide2e-')) });
  const config = parseConfig(
    `version: "2"
identities:
  corp:
    issuer: ${op.issuer}
    clientId: ${op.clientId}
    scopes: [openid, offline_access]
  dev:
    type: aws
    identity: corp
    roleArn: ${ROLE}
    region: ${aws.region}
    endpoints: { sts: "${aws.endpoint}" }
  vault:
    type: vault
    address: ${vault.address}
    minLeaseTtlSeconds: 3
    auth: { method: jwt, role: dev, identity: corp }
services:
  rds:
    connector: pg
    listenOn: tcp://127.0.0.1:0
    credentials:
      host: 127.0.0.1
      port: ${cluster.port}
      username: iam_user
      password: { from: aws-rds-iam, get: "dev:iam_user@127.0.0.1:${cluster.port}" }
      sslmode: require
  dyn:
    connector: pg
    listenOn: tcp://127.0.0.1:0
    verboseClientErrors: true # the test reads the login hint from the client's error
    credentials:
      host: 127.0.0.1
      port: ${cluster.port}
      username: { from: vault, get: "vault:database/creds/app#username" }
      password: { from: vault, get: "vault:database/creds/app#password" }
      sslmode: require
`,
    { source: 'e2e.yml', connectors: connectorSpecs(connectors), providers: registry.names() },
  );
  runtime.apply(config.identities);
  await broker.apply(config);
});
after(async () => {
  await broker?.stop({ drainMs: 200 });
  runtime?.close();
  await rdsAuth?.stop();
  await vault?.stop();
  await aws?.stop();
  await cluster?.stop();
  await op?.stop();
});

async function connect(service: string): Promise<pg.Client> {
  const m = /:(\d+)$/.exec(broker.address(service)!)!;
  const client = new pg.Client({ host: '127.0.0.1', port: Number(m[1]), database: 'app', user: 'anyone' });
  try {
    await client.connect();
  } catch (err) {
    clientErrors.push((err as Error).message);
    throw err;
  }
  return client;
}
const user = async (c: pg.Client): Promise<string> => (await c.query('select current_user as u')).rows[0].u;

test('before login, connections fail with a clear error that says to log in', async () => {
  await assert.rejects(connect('dyn'), /provider 'vault' could not get .*identity 'corp' is not logged in.*secretless-desktop login corp/);
});

test('after one login: an RDS IAM token and a Vault dynamic user both get into PostgreSQL', async () => {
  await runtime.sessions.login('corp');
  await runtime.sessions.waitForLogin('corp');

  const rds = await connect('rds');
  assert.equal(await user(rds), 'iam_user');
  assert.equal((await rds.query('select ssl from pg_stat_ssl where pid = pg_backend_pid()')).rows[0].ssl, true, 'RDS IAM auth over TLS');
  assert.equal(rdsAuth.accepted, 1, 'the RDS-style verifier accepted the signed token');
  assert.equal(aws.calls.assumeRole, 1);
  await rds.end();

  const dyn = await connect('dyn');
  assert.equal(vault.leases.length, 1);
  assert.equal(await user(dyn), vault.leases[0]!.username);
  await dyn.end();
  assert.equal(rotations().length, 0);
});

test('the lease rotates: new connections use the new user, the open one keeps running, one rotation event', async () => {
  const held = await connect('dyn');
  const first = vault.leases[vault.leases.length - 1]!;
  assert.equal(await user(held), first.username);

  vault.refuseRenewals = true; // as when the lease reaches its max TTL
  // The cached lease reaches the refresh margin: the next connection fetches again.
  const mark = audit.records.length;
  await waitFor('the cached lease to reach its margin', () => audit.records.slice(mark).some((r) => r.type === 'credential.expiring' && r.service === 'dyn'));
  const fresh = await connect('dyn');
  const second = vault.leases[vault.leases.length - 1]!;
  assert.notEqual(second.username, first.username, 'a fresh lease after the refused renewal');
  assert.equal(await user(fresh), second.username);
  assert.equal(await user(held), first.username, 'the open session still works');
  const again = await connect('dyn');
  assert.equal(await user(again), second.username, 'the next connection reuses the new lease');
  await Promise.all([fresh.end(), held.end(), again.end()]);

  const rotated = rotations();
  assert.equal(rotated.length, 1, 'exactly one rotation record');
  assert.equal(rotated[0]!.type === 'credential.rotated' && rotated[0]!.service, 'dyn');
  assert.equal(rotated[0]!.type === 'credential.rotated' && rotated[0]!.provider, 'vault');
  assert.ok(audit.records.some((r) => r.type === 'credential.expiring' && r.service === 'dyn'), 'an expiring-soon record at the margin');
});

test('audit has login and exchanges; no token, key or password in logs, audit, events or client errors', async () => {
  for (const type of ['identity.login', 'identity.exchanged', 'credential.fetched'] as const) {
    assert.ok(audit.records.some((r) => r.type === type), type);
  }
  const text = await new AsyncEntry(keychainService, 'corp', { linux: { store: 'secret-service' } }).getPassword();
  const t = JSON.parse(text!) as StoredTokens;
  const secrets = [
    t.idToken,
    t.refreshToken!,
    t.accessToken!,
    ...aws.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken]),
    ...rdsAuth.tokensSeen,
    ...vault.issuedTokens,
    ...vault.leases.map((l) => l.password),
  ];
  assert.ok(rdsAuth.tokensSeen.length >= 1);
  const output = logs.join('') + JSON.stringify(audit.records) + JSON.stringify(rotations()) + clientErrors.join('\n');
  for (const s of secrets) assert.ok(!output.includes(s), 'a secret leaked');
  await new AsyncEntry(keychainService, 'corp', { linux: { store: 'secret-service' } }).deleteCredential();
});
