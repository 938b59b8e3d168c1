// aws-sts, aws-rds-iam and aws-secrets-manager through the real AWS SDK against the AWS
// stand-in, with an ID token from a real oidc-provider login (browser-driven). The
// stand-in checks the token like STS does and SigV4 like AWS does, so a value only
// comes back when the broker did the real thing.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import { createMemoryAudit } from '../../broker/audit/memory-audit.js';
import type { IdentityConfig } from '../../broker/identity/config.js';
import { createIdentityRuntime, type IdentityRuntime } from '../../broker/credentials/identity-runtime.js';
import { createMemoryTokenStore } from '../../broker/identity/token-store.js';
import { defaultProviders } from '../../broker/credentials/registry.js';
import type { Provider } from '../../broker/credentials/types.js';
import { createLogger } from '../../broker/log.js';
import { startOidcProvider, type TestOidcProvider } from '../fixtures/oidc-provider.js';
import { startAwsStandin, type AwsStandin } from '../fixtures/sts-standin.js';

process.env.AWS_EC2_METADATA_DISABLED = 'true';
const ROLE = 'arn:aws:iam::123456789012:role/db-dev';
let op: TestOidcProvider;
let aws: AwsStandin;
let wrongAud: AwsStandin;
let hang: Server;
let hangPort: number;
let runtime: IdentityRuntime;
const store = createMemoryTokenStore();
const audit = createMemoryAudit();
const logs: string[] = [];
const errors: string[] = [];
const secrets = new Set<string>();

const providers = (): Map<string, Provider> => new Map(runtime.providers.map((p) => [p.name, p]));
const get = async (provider: string, ids: string[]) => {
  try {
    return await providers().get(provider)!.get(ids, { signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    errors.push((err as Error).message);
    throw err;
  }
};

before(async () => {
  op = await startOidcProvider({ idTokenTtl: 300 });
  aws = await startAwsStandin({ issuer: op.issuer, audience: op.clientId, roles: { [ROLE]: { maxSessionDuration: 3600 } } });
  wrongAud = await startAwsStandin({ issuer: op.issuer, audience: 'sts.amazonaws.com', roles: { [ROLE]: {} } });
  hang = createServer(() => {}).listen(0, '127.0.0.1');
  await new Promise((r) => hang.once('listening', r));
  hangPort = (hang.address() as { port: number }).port;
  const identities: IdentityConfig[] = [
    { type: 'oidc', name: 'corp', issuer: op.issuer, clientId: op.clientId, scopes: ['openid', 'offline_access'], flow: 'authorization_code', redirectPort: 0, line: 1 },
    { type: 'aws', name: 'dev', identity: 'corp', roleArn: ROLE, durationSeconds: 3600, sessionName: 'secretless-desktop', region: aws.region, endpoints: { sts: aws.endpoint, secretsManager: aws.endpoint }, line: 2 },
    { type: 'aws', name: 'badaud', identity: 'corp', roleArn: ROLE, durationSeconds: 3600, sessionName: 'secretless-desktop', region: aws.region, endpoints: { sts: wrongAud.endpoint }, line: 3 },
    { type: 'aws', name: 'chain', durationSeconds: 3600, sessionName: 'secretless-desktop', region: aws.region, endpoints: { secretsManager: aws.endpoint }, line: 5 },
    { type: 'aws', name: 'hung', identity: 'corp', roleArn: ROLE, durationSeconds: 3600, sessionName: 'secretless-desktop', region: aws.region, endpoints: { sts: `http://127.0.0.1:${hangPort}` }, line: 4 },
  ];
  runtime = createIdentityRuntime({
    audit,
    logger: createLogger({ level: 'debug', format: 'json', write: (l) => void logs.push(l) }),
    baseProviders: defaultProviders({ env: {} }),
    store,
    openBrowser: (url) => void op.approve(url),
    timeoutMs: 3_000,
  });
  runtime.apply(identities);
  await runtime.sessions.login('corp');
  await runtime.sessions.waitForLogin('corp');
  const t = store.items.get('corp')!;
  for (const s of [t.idToken, t.refreshToken, t.accessToken]) if (s) secrets.add(s);
});
after(async () => {
  runtime?.close();
  hang?.close();
  await wrongAud?.stop();
  await aws?.stop();
  await op?.stop();
});

test('aws-sts: one AssumeRoleWithWebIdentity for all fields, the issued credentials, reused until the margin', async () => {
  const ids = ['dev#accessKeyId', 'dev#secretAccessKey', 'dev#sessionToken', 'dev#expiration'];
  const got = await get('aws-sts', ids);
  assert.equal(aws.calls.assumeRole, 1);
  const issued = aws.issued[0]!;
  secrets.add(issued.secretAccessKey).add(issued.sessionToken);
  assert.equal(got.get('dev#accessKeyId')!.value.toString(), issued.accessKeyId);
  assert.equal(got.get('dev#secretAccessKey')!.value.toString(), issued.secretAccessKey);
  assert.equal(got.get('dev#sessionToken')!.value.toString(), issued.sessionToken);
  assert.equal(got.get('dev#expiration')!.value.toString(), issued.expiration.toISOString());
  for (const v of got.values()) assert.equal(v.expiresAt!.getTime(), issued.expiration.getTime());
  await get('aws-sts', ['dev#secretAccessKey']);
  assert.equal(aws.calls.assumeRole, 1, 'the credentials were reused');
  assert.ok(audit.records.some((r) => r.type === 'identity.exchanged' && r.identity === 'corp' && r.provider === 'aws-sts'));
});

test('aws-rds-iam: a token RDS would accept for that host, port and user, expiring within 15 minutes', async () => {
  const got = await get('aws-rds-iam', ['dev:app_user@db.example.internal:5432']);
  const v = got.get('dev:app_user@db.example.internal:5432')!;
  const token = v.value.toString();
  secrets.add(token);
  const creds = await aws.verifyRdsAuthToken(token, { host: 'db.example.internal', port: 5432, user: 'app_user' });
  assert.equal(creds.roleArn, ROLE);
  await assert.rejects(aws.verifyRdsAuthToken(token, { host: 'db.example.internal', port: 5432, user: 'admin' }), /another user/);
  assert.ok(v.expiresAt!.getTime() <= Date.now() + 15 * 60_000);
  assert.ok(v.expiresAt!.getTime() > Date.now() + 14 * 60_000);
  await assert.rejects(get('aws-rds-iam', ['dev:no-port@host']), /aws-rds-iam.*the id must have the form AWS:DBUSER@HOST:PORT/);
});

test('aws-secrets-manager: SigV4-signed GetSecretValue with the STS credentials; #field selects JSON keys', async () => {
  const password = 'sm-password-9f8e7d';
  secrets.add(password);
  aws.secrets.set('prod/db', JSON.stringify({ username: 'app', password, port: 5432 }));
  const got = await get('aws-secrets-manager', ['dev:prod/db#password', 'dev:prod/db#port', 'dev:prod/db']);
  assert.equal(got.get('dev:prod/db#password')!.value.toString(), password);
  assert.equal(got.get('dev:prod/db#port')!.value.toString(), '5432');
  assert.equal(JSON.parse(got.get('dev:prod/db')!.value.toString()).username, 'app');
  assert.equal(aws.calls.getSecretValue, 1, 'one call per secret');
  assert.equal(got.get('dev:prod/db#password')!.expiresAt, undefined, 'read per connection, so rotation is seen at once');
  await assert.rejects(get('aws-secrets-manager', ['dev:prod/db#nope']), /could not get 'dev:prod\/db#nope': the secret has no text or number field 'nope'/);
  await assert.rejects(get('aws-secrets-manager', ['dev:prod/missing#x']), /ResourceNotFoundException/);
  assert.ok(!aws.calls.refused.includes('InvalidSignatureException'));
});

test('an aws entry without a role uses the default credential chain (here: AWS_* environment variables)', async () => {
  const issued = aws.issued[0]!;
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: issued.accessKeyId, AWS_SECRET_ACCESS_KEY: issued.secretAccessKey, AWS_SESSION_TOKEN: issued.sessionToken });
  try {
    aws.secrets.set('chain/secret', 'chain-secret-value-77');
    secrets.add('chain-secret-value-77');
    const got = await get('aws-secrets-manager', ['chain:chain/secret']);
    assert.equal(got.get('chain:chain/secret')!.value.toString(), 'chain-secret-value-77');
    const assumeCalls = aws.calls.assumeRole;
    const token = (await get('aws-rds-iam', ['chain:u@db:5432'])).get('chain:u@db:5432')!.value.toString();
    secrets.add(token);
    assert.equal((await aws.verifyRdsAuthToken(token, { host: 'db', port: 5432, user: 'u' })).accessKeyId, issued.accessKeyId);
    assert.equal(aws.calls.assumeRole, assumeCalls, 'no STS call for the default chain');
  } finally {
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) delete process.env[k];
  }
});

test('STS refuses a token for another audience; the error names provider and id, and STS reason', async () => {
  await assert.rejects(get('aws-sts', ['badaud#accessKeyId']), (err: Error) => {
    assert.match(err.message, /provider 'aws-sts' could not get 'badaud#accessKeyId': InvalidIdentityToken(Exception)?: Couldn't verify the token: audience mismatch/);
    return true;
  });
  assert.ok(audit.records.some((r) => r.type === 'identity.failed' && r.step === 'aws-sts'));
});

test('a provider that does not answer fails after its timeout, and honours the caller abort', async () => {
  const started = Date.now();
  await assert.rejects(get('aws-sts', ['hung#accessKeyId']), /could not get 'hung#accessKeyId'/);
  assert.ok(Date.now() - started < 12_000);
  const ac = new AbortController();
  const pending = providers().get('aws-rds-iam')!.get(['hung:u@h:5432'], { signal: ac.signal });
  ac.abort();
  await assert.rejects(pending, /aws-rds-iam.*hung:u@h:5432/);
});

test('no token, secret key, session token or password in logs, audit records or errors', () => {
  assert.ok(secrets.size >= 5);
  const output = logs.join('') + JSON.stringify(audit.records) + errors.join('\n');
  for (const s of secrets) assert.ok(!output.includes(s), 'a secret leaked');
});
