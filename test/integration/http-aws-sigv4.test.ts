// AWS SigV4 signed by the broker: the real `aws` CLI (Debian's awscli) sends unsigned
// requests (--no-sign-request) to the broker's `aws` service, which signs them with
// its credentials; the AWS stand-in recomputes each signature with AWS's own signer
// (@smithy/signature-v4) and answers only when it matches. Keys come from providers, or
// from an aws identity on the SDK's default credential chain.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { createMemoryAudit } from '../../broker/audit/memory-audit.js';
import { createIdentityRuntime } from '../../broker/credentials/identity-runtime.js';
import { defaultProviders } from '../../broker/credentials/registry.js';
import { createMemoryTokenStore } from '../../broker/identity/token-store.js';
import { createLogger } from '../../broker/log.js';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { startAwsStandin, type AwsStandin, type IssuedCredentials } from '../fixtures/sts-standin.js';

const run = promisify(execFile);
const AWS = '/usr/bin/aws';
let dir: string;
let aws: AwsStandin;
let keys: IssuedCredentials;
let tb: TestBroker;
const outputs: string[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sd-sigv4-'));
  aws = await startAwsStandin({ issuer: 'https://unused.example', audience: 'unused', roles: {} });
  keys = aws.issueKeys();
  aws.secrets.set('app/db', '{"password":"the-db-password"}');
  tb = await startTestBroker(
    `version: "2"
services:
  secrets:
    connector: aws
    listenOn: tcp://127.0.0.1:0
    credentials:
      accessKeyId: { from: env, get: AKID }
      secretAccessKey: { from: env, get: SECRET }
      accessToken: { from: env, get: SESSION }
    config: { upstream: "${aws.endpoint}", region: eu-west-1, service: secretsmanager, maxSignedBodyBytes: 4096 }
`,
    { env: { AKID: keys.accessKeyId, SECRET: keys.secretAccessKey, SESSION: keys.sessionToken } },
  );
});

after(async () => {
  await tb?.stop();
  await aws?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The aws CLI with no credentials anywhere: an empty home and config, no env keys. */
async function cli(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  const { host, port } = tb.tcp('secrets');
  const env = { PATH: process.env.PATH ?? '', HOME: dir, AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'), AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '' };
  try {
    const { stdout, stderr } = await run(AWS, ['--no-sign-request', '--endpoint-url', `http://${host}:${port}`, '--region', 'eu-west-1', '--output', 'json', ...args], { env, timeout: 60_000 });
    outputs.push(stdout, stderr);
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    outputs.push(e.stdout, e.stderr);
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

test('aws secretsmanager get-secret-value --no-sign-request: the broker signs, the stand-in verifies the signature', async () => {
  const r = await cli(['secretsmanager', 'get-secret-value', '--secret-id', 'app/db']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { SecretString: string }).SecretString, '{"password":"the-db-password"}');
  assert.deepEqual(aws.calls.refused, []);
  const rec = tb.audit.records.find((x) => x.type === 'http.request' && x.service === 'secrets');
  assert.ok(rec && rec.type === 'http.request' && rec.status === 200 && rec.method === 'POST');
});

test('a wrong secret key gives the service\'s own signature error, passed through', async () => {
  await tb.apply(`version: "2"
services:
  secrets:
    connector: aws
    listenOn: tcp://127.0.0.1:${tb.tcp('secrets').port}
    credentials: { accessKeyId: ${keys.accessKeyId}, secretAccessKey: not-the-secret, sessionToken: { from: env, get: SESSION } }
    config: { upstream: "${aws.endpoint}", region: eu-west-1, service: secretsmanager }
`);
  const r = await cli(['secretsmanager', 'get-secret-value', '--secret-id', 'app/db']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /InvalidSignatureException/);
  assert.ok(tb.audit.records.some((x) => x.type === 'http.request' && x.outcome === 'target_rejected_credentials'));
});

test('a body above maxSignedBodyBytes is refused with 413 before anything is sent', async () => {
  const before = aws.calls.getSecretValue;
  const { host, port } = tb.tcp('secrets');
  await tb.apply(`version: "2"
services:
  secrets:
    connector: aws
    listenOn: tcp://127.0.0.1:${port}
    credentials: { accessKeyId: { from: env, get: AKID }, secretAccessKey: { from: env, get: SECRET }, sessionToken: { from: env, get: SESSION } }
    config: { upstream: "${aws.endpoint}", region: eu-west-1, service: secretsmanager, maxSignedBodyBytes: 1024 }
`);
  const res = await fetch(`http://${host}:${port}/`, { method: 'POST', body: 'x'.repeat(5000), headers: { 'x-amz-target': 'secretsmanager.GetSecretValue', accept: 'application/json' } });
  const body = (await res.json()) as { error: { code: string; message: string } };
  assert.equal(res.status, 413);
  assert.equal(body.error.code, 'packet_too_large');
  assert.match(body.error.message, /maxSignedBodyBytes/);
  assert.equal(aws.calls.getSecretValue, before);
});

test('keys from an aws identity on the default credential chain (here the AWS_* environment) sign too', async () => {
  const runtime = createIdentityRuntime({ audit: createMemoryAudit(), logger: createLogger({ level: 'error', format: 'json', write: () => {} }), baseProviders: defaultProviders({ env: {} }), store: createMemoryTokenStore() });
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey, AWS_SESSION_TOKEN: keys.sessionToken, AWS_EC2_METADATA_DISABLED: 'true' });
  const chained = await startTestBroker(
    `version: "2"
identities:
  chain: { type: aws, region: eu-west-1 }
services:
  secrets:
    connector: http
    listenOn: tcp://127.0.0.1:0
    credentials:
      accessKeyId: { from: aws-sts, get: "chain#accessKeyId" }
      secretAccessKey: { from: aws-sts, get: "chain#secretAccessKey" }
      sessionToken: { from: aws-sts, get: "chain#sessionToken" }
    config: { upstream: "${aws.endpoint}", region: eu-west-1, service: secretsmanager }
`,
    { providers: runtime.providers },
  );
  try {
    runtime.apply([{ type: 'aws', name: 'chain', region: 'eu-west-1', durationSeconds: 3600, sessionName: 'x', endpoints: {}, line: 1 }]);
    const { host, port } = chained.tcp('secrets');
    const res = await fetch(`http://${host}:${port}/`, { method: 'POST', body: JSON.stringify({ SecretId: 'app/db' }), headers: { 'x-amz-target': 'secretsmanager.GetSecretValue', 'content-type': 'application/x-amz-json-1.1' } });
    const text = await res.text();
    outputs.push(text, chained.output());
    assert.equal(res.status, 200, text);
    assert.equal((JSON.parse(text) as { SecretString: string }).SecretString, '{"password":"the-db-password"}');
  } finally {
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) delete process.env[k];
    await chained.stop();
    runtime.close();
  }
});

test('the AWS keys never appear in logs, audit or CLI output', () => {
  const all = tb.output() + outputs.join('\n');
  for (const s of [keys.secretAccessKey, keys.sessionToken]) assert.ok(!all.includes(s));
});
