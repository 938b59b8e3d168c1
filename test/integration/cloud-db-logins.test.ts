// GCP and Azure short-lived database logins, end to end: one real OIDC login (the
// oidc-provider fixture, a real browser) whose ID token the broker exchanges at a
// Google STS stand-in (workload identity federation, then service-account
// impersonation) and at a Microsoft Entra stand-in (federated client credentials),
// plus the local-developer paths with no identity named: gcloud application-default
// credentials (authorized_user refresh token) and the az CLI's MSAL token cache.
// psql connects through the broker to a real PostgreSQL whose token users log in with
// its `ldap` auth method against a bind verifier that checks the access token the way
// Cloud SQL / Azure Database do; the mariadb client to a real MariaDB whose token user
// logs in through PAM (mysql_clear_password, as the cloud MySQLs ask) with Cloud SQL's
// check. (Not Azure's: PAM cuts passwords at 511 bytes and an Entra token is a 1-2 KB
// JWT, so no real MariaDB here can check one; the broker side is the same code.) Wrong audience, wrong subject and an expired token
// are refused by the stand-ins and reach psql as clear errors. Tokens rotate before
// they expire (one credential.rotated record), and none appears in any output.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createMemoryAudit } from '../../broker/audit/memory-audit.js';
import { createBroker, type Broker } from '../../broker/broker.js';
import { parseConfig } from '../../broker/config/parse.js';
import { builtinConnectors, connectorSpecs } from '../../broker/connectors/registry.js';
import { createIdentityRuntime, type IdentityRuntime } from '../../broker/credentials/identity-runtime.js';
import { createProviderRegistry, defaultProviders } from '../../broker/credentials/registry.js';
import { createResolver } from '../../broker/credentials/resolver.js';
import { AZ_CLI_CLIENT_ID } from '../../broker/identity/azure-credentials.js';
import { createMemoryTokenStore } from '../../broker/identity/token-store.js';
import { createLogger } from '../../broker/log.js';
import { startAzureStandin, type AzureStandin } from '../fixtures/azure-standin.js';
import { startGcpStandin, type GcpStandin } from '../fixtures/gcp-standin.js';
import { startLdapBindVerifier, type LdapBindVerifier } from '../fixtures/ldap-bind.js';
import { startMariaDb, type MariaDb } from '../fixtures/mariadb-cluster.js';
import { MARIADB_PAM_ARGS, startPamTokenCheck, type PamTokenCheck } from '../fixtures/pam-token-check.js';
import { startOidcProvider, type TestOidcProvider } from '../fixtures/oidc-provider.js';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { clientEnv, run, type RunResult } from '../fixtures/run.js';
import { waitFor } from '../fixtures/wait-for.js';

const POOL = '//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci-pool/providers';
const SA = 'db-client@proj-1.iam.gserviceaccount.com';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const APP = '8b4f1c2e-0a55-4c1e-9d3b-5f0e6b7a1c21';
const SUB = 'alice'; // who logs in at the OIDC provider
const GCLOUD_RT = '1//0gStandinRefreshToken-not-a-real-one';
const AZ_RT = '0.AXoAStandinRefreshToken-not-a-real-one';
// Three more pool providers / apps for the refusals, so no cached token hides them.
const BAD = ['audience', 'subject', 'expired'] as const;

let op: TestOidcProvider;
let gcp: GcpStandin;
let azure: AzureStandin;
let cluster: PgCluster;
let cloudSql: LdapBindVerifier;
let azureDb: LdapBindVerifier;
let maria: MariaDb;
let cloudSqlMysql: PamTokenCheck;
let runtime: IdentityRuntime;
let broker: Broker;
let home: string;
const audit = createMemoryAudit();
const logs: string[] = [];
const clientOutput: string[] = [];

before(async () => {
  op = await startOidcProvider({ idTokenTtl: 600 });
  cluster = await startPgCluster({ tls: true });
  gcp = await startGcpStandin({
    providers: {
      [`${POOL}/github`]: { issuer: op.issuer, allowedAudiences: [op.clientId], subjects: [SUB] },
      [`${POOL}/bad-audience`]: { issuer: op.issuer, subjects: [SUB] }, // default audience: the provider's own name
      [`${POOL}/bad-subject`]: { issuer: op.issuer, allowedAudiences: [op.clientId], subjects: ['repo:org/app:ref:refs/heads/main'] },
      [`${POOL}/bad-expired`]: { issuer: op.issuer, allowedAudiences: [op.clientId], subjects: [SUB] },
    },
    serviceAccounts: {},
    users: { [GCLOUD_RT]: { email: 'dev@example.com', clientId: '764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com', clientSecret: 'd-FL95Q19q7MQmFpd7hHD0Ty' } },
    userTokenTtl: 12, // short, to see a rotation
  });
  gcp.options.serviceAccounts![SA] = { workloadIdentityUsers: [gcp.principal(`${POOL}/github`, SUB)] };
  azure = await startAzureStandin({
    tenantId: TENANT,
    apps: {
      [APP]: { displayName: 'orders-api', federatedCredentials: [{ issuer: op.issuer, subject: SUB, audiences: [op.clientId] }] },
      'app-bad-audience': { displayName: 'x', federatedCredentials: [{ issuer: op.issuer, subject: SUB }] }, // default api://AzureADTokenExchange
      'app-bad-subject': { displayName: 'x', federatedCredentials: [{ issuer: op.issuer, subject: 'system:serviceaccount:prod:orders', audiences: [op.clientId] }] },
      'app-bad-expired': { displayName: 'x', federatedCredentials: [{ issuer: op.issuer, subject: SUB, audiences: [op.clientId] }] },
    },
    refreshTokens: { [AZ_RT]: { upn: 'alice@contoso.com', clientId: AZ_CLI_CLIENT_ID } },
    tokenTtl: 12, // short, to see a rotation
  });

  // What Cloud SQL and Azure Database check, behind PostgreSQL's ldap auth method.
  cloudSql = await startLdapBindVerifier({ suffix: 'dc=cloudsql', verify: async (user, token) => void gcp.verifyCloudSqlLogin('postgres', user, token) });
  azureDb = await startLdapBindVerifier({ suffix: 'dc=azure', verify: async (user, token) => void azure.verifyDatabaseLogin(user, token) });
  const roles = { cloudSql: ['db-client@proj-1.iam', 'dev@example.com'], azureDb: ['orders-api', 'alice@contoso.com'] };
  for (const r of [...roles.cloudSql, ...roles.azureDb]) await cluster.psql(`CREATE ROLE "${r}" LOGIN`);
  const hba = join(cluster.dataDir, 'pg_hba.conf');
  const lines = roles.cloudSql.map((r) => cloudSql.hbaLine(r)).join('') + roles.azureDb.map((r) => azureDb.hbaLine(r)).join('');
  await writeFile(hba, lines + (await readFile(hba, 'utf8')));
  await cluster.psql('SELECT pg_reload_conf()');
  // MySQL: Cloud SQL's user is the service account's name before the @.
  cloudSqlMysql = await startPamTokenCheck((user, token) => void gcp.verifyCloudSqlLogin('mysql', user, token));
  maria = await startMariaDb({ tls: true, serverArgs: MARIADB_PAM_ARGS });
  await maria.sql(
    `CREATE USER 'db-client'@'%' IDENTIFIED VIA pam USING '${cloudSqlMysql.service}'; GRANT SELECT ON app.* TO 'db-client'@'%';`,
  );

  // The developer's own logins, as gcloud and az leave them on disk.
  home = await mkdtemp(join(tmpdir(), 'sd-cloud-home-'));
  await mkdir(join(home, '.config', 'gcloud'), { recursive: true });
  await writeFile(
    join(home, '.config', 'gcloud', 'application_default_credentials.json'),
    JSON.stringify({ account: '', client_id: gcp.options.users![GCLOUD_RT]!.clientId, client_secret: gcp.options.users![GCLOUD_RT]!.clientSecret, refresh_token: GCLOUD_RT, type: 'authorized_user', universe_domain: 'googleapis.com' }),
  );
  await writeAzCliLogin(join(home, '.azure'));

  const logger = createLogger({ level: 'debug', format: 'json', write: (l) => void logs.push(l) });
  const base = defaultProviders({ env: {} });
  runtime = createIdentityRuntime({ audit, logger, baseProviders: base, store: createMemoryTokenStore(), openBrowser: (url) => void op.approve(url, { user: SUB }), marginMs: 3_000, env: { HOME: home } });
  const registry = createProviderRegistry([...base, ...runtime.providers]);
  const resolver = createResolver({ registry, audit, logger, expiryMarginMs: 3_000 });
  const connectors = builtinConnectors();
  broker = createBroker({ logger, audit, resolver, connectors, drainMs: 500, stateDir: await mkdtemp(join(tmpdir(), 'sd-cloud-')) });
  const pgService = (name: string, user: string, from: string, entry: string) => `  ${name}:
    connector: pg
    listenOn: tcp://127.0.0.1:0
    verboseClientErrors: true # the tests read the provider's reason in psql's error
    credentials:
      host: 127.0.0.1
      port: ${cluster.port}
      username: "${user}"
      password: { from: ${from}, get: ${entry} }
      sslmode: require
`;
  const myService = (name: string, user: string, from: string, entry: string) => `  ${name}:
    connector: mysql
    listenOn: tcp://127.0.0.1:0
    verboseClientErrors: true
    credentials:
      host: 127.0.0.1
      port: ${maria.port}
      username: "${user}"
      password: { from: ${from}, get: ${entry} }
      sslmode: require
`;
  const config = parseConfig(
    `version: "2"
identities:
  corp:
    issuer: ${op.issuer}
    clientId: ${op.clientId}
  gcp-wif:
    type: gcp
    identity: corp
    audience: ${POOL}/github
    serviceAccount: ${SA}
    endpoints: { sts: "${gcp.endpoint}", iamCredentials: "${gcp.endpoint}" }
  gcp-adc:
    type: gcp
    endpoints: { oauth2: "${gcp.endpoint}" }
  az-wif:
    type: azure
    identity: corp
    tenantId: ${TENANT}
    clientId: ${APP}
    authorityHost: ${azure.authorityHost}
  az-cli:
    type: azure
    authorityHost: ${azure.authorityHost}
  az-arm:
    type: azure
    identity: corp
    tenantId: ${TENANT}
    clientId: ${APP}
    scope: https://management.azure.com/.default
    authorityHost: ${azure.authorityHost}
${BAD.map(
  (b) => `  gcp-bad-${b}:
    type: gcp
    identity: corp
    audience: ${POOL}/bad-${b}
    endpoints: { sts: "${gcp.endpoint}" }
  az-bad-${b}:
    type: azure
    identity: corp
    tenantId: ${TENANT}
    clientId: app-bad-${b}
    authorityHost: ${azure.authorityHost}
`,
).join('')}  gcp-bad-impersonation:
    type: gcp
    identity: corp
    audience: ${POOL}/github
    serviceAccount: reports@proj-1.iam.gserviceaccount.com
    endpoints: { sts: "${gcp.endpoint}", iamCredentials: "${gcp.endpoint}" }
services:
  gcs:
    connector: http
    listenOn: tcp://127.0.0.1:0
    credentials:
      token: { from: gcp, get: gcp-wif }
    config: { upstream: "${gcp.endpoint}" }
  arm:
    connector: http
    listenOn: tcp://127.0.0.1:0
    credentials:
      token: { from: azure, get: az-arm }
    config: { upstream: "${azure.authorityHost}" }
${myService('cloudsql-mysql', 'db-client', 'gcp', 'gcp-wif')}${pgService('cloudsql', 'db-client@proj-1.iam', 'gcp', 'gcp-wif')}${pgService('cloudsql-adc', 'dev@example.com', 'gcp', 'gcp-adc')}${pgService('azuredb', 'orders-api', 'azure', 'az-wif')}${pgService('azuredb-cli', 'alice@contoso.com', 'azure', 'az-cli')}${pgService('gcp-bad-impersonation', 'reports@proj-1.iam', 'gcp', 'gcp-bad-impersonation')}${BAD.map((b) => pgService(`gcp-bad-${b}`, 'db-client@proj-1.iam', 'gcp', `gcp-bad-${b}`) + pgService(`az-bad-${b}`, 'orders-api', 'azure', `az-bad-${b}`)).join('')}`,
    { source: 'cloud.yml', connectors: connectorSpecs(connectors), providers: registry.names() },
  );
  runtime.apply(config.identities);
  await broker.apply(config);
});

after(async () => {
  await broker?.stop({ drainMs: 200 });
  runtime?.close();
  await cloudSql?.stop();
  await cloudSqlMysql?.stop();
  await maria?.stop();
  await azureDb?.stop();
  await gcp?.stop();
  await azure?.stop();
  await cluster?.stop();
  await op?.stop();
});

/** The az CLI's files after `az login` as alice: its MSAL cache (an expired access token, a refresh token) and its profile. */
async function writeAzCliLogin(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const homeAccountId = `9f4a8e1b-1111-4c2d-8e3f-0a1b2c3d4e5f.${TENANT}`;
  const env = 'login.microsoftonline.com';
  const past = Math.floor(Date.now() / 1000) - 600;
  const cache = {
    Account: { [`${homeAccountId}-${env}-${TENANT}`]: { home_account_id: homeAccountId, environment: env, realm: TENANT, local_account_id: homeAccountId.split('.')[0], username: 'alice@contoso.com', authority_type: 'MSSTS' } },
    AccessToken: {
      [`${homeAccountId}-${env}-accesstoken-${AZ_CLI_CLIENT_ID}-${TENANT}-https://ossrdbms-aad.database.windows.net/user_impersonation`]: {
        credential_type: 'AccessToken', secret: 'expired-cached-access-token', home_account_id: homeAccountId, environment: env, client_id: AZ_CLI_CLIENT_ID,
        target: 'https://ossrdbms-aad.database.windows.net/user_impersonation https://ossrdbms-aad.database.windows.net/.default', realm: TENANT, token_type: 'Bearer',
        cached_at: String(past - 3600), expires_on: String(past), extended_expires_on: String(past),
      },
    },
    RefreshToken: { [`${homeAccountId}-${env}-refreshtoken-${AZ_CLI_CLIENT_ID}--`]: { credential_type: 'RefreshToken', secret: AZ_RT, home_account_id: homeAccountId, environment: env, client_id: AZ_CLI_CLIENT_ID, target: '', last_modification_time: String(past), family_id: '1' } },
    IdToken: {},
    AppMetadata: { [`appmetadata-${env}-${AZ_CLI_CLIENT_ID}`]: { client_id: AZ_CLI_CLIENT_ID, environment: env, family_id: '1' } },
  };
  await writeFile(join(dir, 'msal_token_cache.json'), JSON.stringify(cache));
  const profile = { installationId: 'x', subscriptions: [{ id: 'sub-1', name: 'Dev', state: 'Enabled', user: { name: 'alice@contoso.com', type: 'user' }, isDefault: true, tenantId: TENANT, environmentName: 'AzureCloud' }] };
  await writeFile(join(dir, 'azureProfile.json'), '\uFEFF' + JSON.stringify(profile));
}

async function psql(service: string, sql = 'select current_user'): Promise<RunResult> {
  const m = /:(\d+)$/.exec(broker.address(service)!)!;
  // A generous connect timeout: the first login waits for the token exchanges on a busy machine.
  const r = await run('psql', ['-X', '-h', '127.0.0.1', '-p', m[1]!, '-U', 'whoever', '-d', 'app', '-Atc', sql], { env: clientEnv({ PGCONNECT_TIMEOUT: '60' }) });
  clientOutput.push(r.stdout, r.stderr);
  return r;
}
async function mariadb(service: string, sql: string): Promise<RunResult> {
  const port = /:(\d+)$/.exec(broker.address(service)!)![1];
  const r = await run('mariadb', ['--no-defaults', '-h', '127.0.0.1', '-P', port!, '-u', 'whoever', '-D', 'app', '-N', '-B', '-e', sql], { timeoutMs: 60_000 });
  clientOutput.push(r.stdout, r.stderr);
  return r;
}

/** curl through the service's listener: "STATUS BODY". */
async function curl(service: string, path: string): Promise<RunResult> {
  const port = /:(\d+)$/.exec(broker.address(service)!)![1];
  const r = await run('curl', ['-sS', '-w', '\n%{http_code}', `http://127.0.0.1:${port}${path}`]);
  const at = r.stdout.lastIndexOf('\n');
  const out = { ...r, stdout: `${r.stdout.slice(at + 1)} ${r.stdout.slice(0, at)}` };
  clientOutput.push(r.stdout, r.stderr);
  return out;
}
const rotated = (service: string) => audit.records.filter((r) => r.type === 'credential.rotated' && r.service === service);

test('before the OIDC login, the federated services fail with a clear error that says to log in', async () => {
  for (const service of ['cloudsql', 'azuredb']) {
    const r = await psql(service);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /provider '(gcp|azure)' could not get '(gcp|az)-wif': .*identity 'corp' is not logged in.*secretless-desktop login corp/);
  }
});

describe('logins as the database sees them', () => {
  before(async () => {
    await runtime.sessions.login('corp');
    await runtime.sessions.waitForLogin('corp');
  });

  test('GCP: the ID token is exchanged at STS, a service account impersonated, and Cloud SQL-style PostgreSQL accepts the token', async () => {
    const r = await psql('cloudsql', "select current_user || ' ' || (select ssl from pg_stat_ssl where pid = pg_backend_pid())");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'db-client@proj-1.iam true', 'the IAM user, over TLS');
    assert.deepEqual([gcp.calls.sts, gcp.calls.generateAccessToken], [1, 1]);
    const used = gcp.issued.filter((t) => t.kind === 'service-account');
    assert.equal(used.length, 1);
    assert.equal(used[0]!.principal, SA);
    assert.deepEqual(used[0]!.scopes, ['https://www.googleapis.com/auth/cloud-platform']);
    // Cached: a second connection reuses the token.
    assert.equal((await psql('cloudsql')).code, 0);
    assert.deepEqual([gcp.calls.sts, gcp.calls.generateAccessToken], [1, 1]);
    assert.equal(cloudSql.accepted, 2);
  });

  test('Azure: the ID token is the client assertion of a client_credentials grant, and Azure-style PostgreSQL accepts the token', async () => {
    const r = await psql('azuredb');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'orders-api');
    assert.equal(azure.issued.length, 1);
    assert.equal(azure.issued[0]!.resource, 'https://ossrdbms-aad.database.windows.net');
    assert.equal(azureDb.accepted, 1);
  });

  test('MySQL: the mariadb client logs in to a Cloud SQL-style MariaDB user (the account name) with the token, mysql_clear_password over TLS', async () => {
    const r = await mariadb('cloudsql-mysql', "select concat(current_user(), ' ', (select variable_value from information_schema.session_status where variable_name = 'Ssl_cipher') <> '')");
    assert.equal(r.code, 0, `${r.stderr} ${cloudSqlMysql.rejected.join('; ')}`);
    assert.equal(r.stdout.trim(), 'db-client@% 1', 'the token user, over TLS');
    assert.equal(cloudSqlMysql.accepted, 1);
    assert.deepEqual([gcp.calls.sts, gcp.calls.generateAccessToken], [1, 1], 'the same cached token as for PostgreSQL');
  });

  test('gcloud application-default credentials (no identity named): the refresh token gets a user token Cloud SQL accepts', async () => {
    const r = await psql('cloudsql-adc');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'dev@example.com');
    assert.equal(gcp.calls.oauth2, 1);
  });

  test('az login cache (no identity named): the expired cached token is skipped, the refresh token redeemed, Azure Database accepts', async () => {
    const r = await psql('azuredb-cli');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'alice@contoso.com');
    assert.ok(!azureDb.tokensSeen.includes('expired-cached-access-token'));
  });

  test('as http bearers: curl reaches a Google API and Azure Resource Manager through the broker', async () => {
    const g = await curl('gcs', '/storage/v1/b?project=proj-1');
    assert.equal(g.stdout, '200 {"kind":"storage#buckets","items":[]}');
    assert.deepEqual(gcp.apiCallers, [SA], 'the impersonated service account called');
    const a = await curl('arm', '/subscriptions?api-version=2022-12-01');
    assert.match(a.stdout, /^200 \{"value":\[\]/);
    assert.deepEqual(azure.apiCallers, ['orders-api']);
    assert.equal(azure.issued.filter((t) => t.resource === 'https://management.azure.com').length, 1, 'the entry\'s scope');
  });

  test('short-lived tokens rotate before they expire: new connections get a fresh token, one rotation record each', async () => {
    for (const [service, fetched] of [
      ['azuredb', () => azure.issued.length],
      ['cloudsql-adc', () => gcp.calls.oauth2],
    ] as const) {
      const before = fetched();
      await waitFor(`${service}'s token to reach its margin`, () => audit.records.some((r) => r.type === 'credential.expiring' && r.service === service));
      const r = await psql(service);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(fetched(), before + 1, 'a fresh token');
      assert.equal(rotated(service).length, 1, `one rotation record for ${service}`);
    }
  });
});

describe('refusals reach psql as clear errors', () => {
  test('wrong audience', async () => {
    const g = await psql('gcp-bad-audience');
    assert.notEqual(g.code, 0);
    assert.match(g.stderr, /provider 'gcp' could not get 'gcp-bad-audience': Google refused the token request \(invalid_grant: The audience in ID Token does not match/);
    const a = await psql('az-bad-audience');
    assert.notEqual(a.code, 0);
    assert.match(a.stderr, /provider 'azure' could not get 'az-bad-audience': Microsoft Entra refused the token request \(invalid_client: AADSTS700212: No matching federated identity record found for presented assertion audience/);
  });

  test('wrong subject', async () => {
    const g = await psql('gcp-bad-subject');
    assert.match(g.stderr, /provider 'gcp' could not get 'gcp-bad-subject': Google refused the token request \(unauthorized_client: The given credential is.*rejected by the attribute condition/);
    const a = await psql('az-bad-subject');
    assert.match(a.stderr, /provider 'azure' could not get 'az-bad-subject': .*AADSTS700213: No matching federated identity record found for presented assertion subject 'alice'/);
  });

  test('a service account that does not trust the pool\'s principal refuses impersonation', async () => {
    const g = await psql('gcp-bad-impersonation');
    assert.match(g.stderr, /provider 'gcp' could not get 'gcp-bad-impersonation': Google refused the token request \(.*Permission 'iam.serviceAccounts.getAccessToken' denied/);
  });

  test('expired token', async () => {
    gcp.clock.skewMs = azure.clock.skewMs = 700_000; // later than the ID token's 600 s lifetime
    try {
      const g = await psql('gcp-bad-expired');
      assert.match(g.stderr, /provider 'gcp' could not get 'gcp-bad-expired': Google refused the token request \(invalid_grant: ID Token has expired/);
      const a = await psql('az-bad-expired');
      assert.match(a.stderr, /provider 'azure' could not get 'az-bad-expired': .*AADSTS700024: Client assertion is not within its valid time range/);
    } finally {
      gcp.clock.skewMs = azure.clock.skewMs = 0;
    }
    assert.ok(audit.records.some((r) => r.type === 'identity.failed' && r.step === 'azure' && /AADSTS700024/.test(r.reason)));
  });
});

test('no token, assertion or refresh token in logs, audit or client output', async () => {
  const tokens = [...gcp.issued.map((t) => t.token), ...azure.issued.map((t) => t.token), ...cloudSql.tokensSeen, ...azureDb.tokensSeen, ...cloudSqlMysql.tokensSeen, GCLOUD_RT, AZ_RT, gcp.options.users![GCLOUD_RT]!.clientSecret];
  assert.ok(tokens.length >= 8);
  const output = logs.join('') + JSON.stringify(audit.records) + clientOutput.join('\n');
  assert.match(output, /identity\.exchanged/, 'the exchanges are audited');
  for (const t of tokens) assert.ok(!output.includes(t), 'a token leaked');
  assert.ok(!/eyJ[\w-]+\.[\w-]+\.[\w-]+/.test(output), 'no JWT (ID token or Entra access token) anywhere');
});
