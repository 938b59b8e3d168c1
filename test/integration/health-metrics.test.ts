// `serve --health-port`: a real serve process, a real PostgreSQL and real clients.
// /live and /ready answer as a probe expects; /metrics is scraped during a load (open
// connections) and after it, parsed with Prometheus's own client parser (Python's
// prometheus_client, test/fixtures/prometheus-parse.ts), checked for
// names, types, HELP and labels, and every counter compared with the audit log the
// same process wrote. Then failures (a service whose port is taken, an identity whose
// token has the wrong audience, a config that does not parse): /ready turns 503 and
// says why, the counters follow. No password or token in any scrape.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import type { AuditRecord } from '../../broker/audit/types.js';
import { freePort } from '../fixtures/free-port.js';
import { parsePrometheusText, type Family } from '../fixtures/prometheus-parse.js';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { clientEnv } from '../fixtures/run.js';
import { startServe, type ServeProcess } from '../fixtures/serve.js';
import { waitFor } from '../fixtures/wait-for.js';

let cluster: PgCluster;
let dir: string;
let configPath: string;
let auditPath: string;
let serve: ServeProcess;
let healthPort: number;
let blocker: Server;
const ports: Record<string, number> = {};
const WRONG_PW = 'not-the-password-7f3a';
/** An unsigned JWT: the broker only reads its claims (aud, exp, sub). */
const jwt = (claims: object) => ['{"alg":"RS256"}', JSON.stringify(claims), 'sig'].map((p) => Buffer.from(p).toString('base64url')).join('.');
const exp = Math.floor(Date.now() / 1000) + 3600;
const CI_TOKEN = jwt({ iss: 'https://gitlab.example.com', sub: 'project_path:acme/app:ref_type:branch:ref:main', aud: 'https://db.example.com', exp });
const STALE_TOKEN = jwt({ iss: 'https://gitlab.example.com', sub: 'project_path:acme/app', aud: 'https://gitlab.example.com', exp });

const service = (name: string, user: string, pwVar: string) => `  ${name}:
    connector: pg
    listenOn: tcp://127.0.0.1:${ports[name]}
    credentials:
      host: 127.0.0.1
      port: ${cluster.port}
      username: ${user}
      password: { from: env, get: ${pwVar} }
      sslmode: disable
`;
const identity = (name: string, variable: string) => `  ${name}:
    type: token-env
    variable: ${variable}
    audience: https://db.example.com
`;
const config = (extra = false) =>
  `version: "2"
identities:
${identity('ci', 'CI_TOKEN')}${extra ? identity('stale', 'STALE_TOKEN') : ''}services:
${service('app', cluster.users.scram.name, 'APP_PW')}${service('wrong', cluster.users.scram.name, 'WRONG_PW')}${service('missing', cluster.users.scram.name, 'UNSET_PW')}${extra ? service('blocked', cluster.users.scram.name, 'APP_PW') : ''}`;

before(async () => {
  cluster = await startPgCluster();
  dir = mkdtempSync(join(tmpdir(), 'sd-health-'));
  configPath = join(dir, 'secretless.yml');
  auditPath = join(dir, 'audit.jsonl');
  for (const name of ['app', 'wrong', 'missing', 'blocked']) ports[name] = await freePort();
  healthPort = await freePort();
  writeFileSync(configPath, config());
  serve = startServe(['-f', configPath, '--audit-log', auditPath, '--health-port', String(healthPort)], {
    ...clientEnv(),
    XDG_STATE_HOME: join(dir, 'state'),
    XDG_CONFIG_HOME: join(dir, 'config'),
    APP_PW: cluster.users.scram.password,
    WRONG_PW,
    CI_TOKEN,
    STALE_TOKEN,
  });
  await serve.ready();
});

after(async () => {
  await serve?.stop();
  blocker?.close();
  await cluster?.stop();
});

const get = async (path: string) => {
  const res = await fetch(`http://127.0.0.1:${healthPort}${path}`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
};
const scrapes: string[] = [];
async function scrape(): Promise<Family[]> {
  const r = await get('/metrics');
  assert.equal(r.status, 200);
  assert.match(r.type, /^text\/plain; version=0\.0\.4/);
  scrapes.push(r.body);
  return parsePrometheusText(r.body);
}
/** The value of the sample with this name and exactly these labels (0 when absent, as Prometheus reads a missing counter). */
function value(families: Family[], sample: string, labels: Record<string, string>): number {
  const key = JSON.stringify(Object.entries(labels).sort());
  const all = families.flatMap((f) => f.samples).filter((s) => s.name === sample);
  assert.ok(all.length > 0 || families.some((f) => sample.startsWith(f.name)), `${sample} is exposed`);
  return all.find((s) => JSON.stringify(Object.entries(s.labels).sort()) === key)?.value ?? 0;
}
const auditRecords = (): AuditRecord[] =>
  readFileSync(auditPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditRecord);

async function connect(service: string): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: ports[service], database: 'app', user: 'anyone' });
  c.on('error', () => {});
  await c.connect();
  return c;
}
async function queryOnce(service: string): Promise<boolean> {
  try {
    const c = await connect(service);
    await c.query('select repeat($1, 1000) as x', ['y']);
    await c.end();
    return true;
  } catch {
    return false;
  }
}

test('/live and /ready answer 200 once every service listens and every identity has a token; the endpoint is on loopback', async () => {
  assert.deepEqual(await get('/live'), { status: 200, type: 'text/plain; charset=utf-8', body: 'live\n' });
  await waitFor('ready', async () => (await get('/ready')).status === 200);
  assert.equal((await get('/ready')).body, 'ready\n');
  assert.equal((await get('/nothing')).status, 404);
  assert.match(serve.output(), new RegExp(`health endpoints listening url=http://127\\.0\\.0\\.1:${healthPort}`));
});

test('during a load: open connections per service; after it: every counter agrees with the audit log', async () => {
  // The load: successful sessions, rejected passwords and a missing credential, concurrently.
  const outcomes = await Promise.all([
    ...Array.from({ length: 24 }, () => queryOnce('app')),
    ...Array.from({ length: 8 }, () => queryOnce('wrong')),
    ...Array.from({ length: 6 }, () => queryOnce('missing')),
  ]);
  assert.equal(outcomes.filter(Boolean).length, 24, 'only app logs in');
  const held = await Promise.all(Array.from({ length: 5 }, () => connect('app')));
  const during = await scrape();
  assert.equal(value(during, 'secretless_open_connections', { service: 'app' }), 5);
  assert.equal(value(during, 'secretless_open_connections', { service: 'wrong' }), 0);
  await Promise.all(held.map((c) => c.end()));

  // The audit log has every connection's end (it is written in batches).
  const closed = () => auditRecords().filter((r) => r.type === 'connection.closed').length;
  await waitFor('the audit log to have all 43 connections closed', () => closed() === 43);
  await waitFor('no open connection', async () => value(await scrape(), 'secretless_open_connections', { service: 'app' }) === 0);
  const m = await scrape();
  const records = auditRecords();
  const count = (pred: (r: AuditRecord) => boolean) => records.filter(pred).length;
  for (const svc of ['app', 'wrong', 'missing']) {
    assert.equal(value(m, 'secretless_connections_total', { service: svc, outcome: 'ok' }), count((r) => r.type === 'connection.authenticated' && r.service === svc), `${svc} ok`);
    for (const code of ['target_rejected_credentials', 'provider_failed']) {
      assert.equal(value(m, 'secretless_connections_total', { service: svc, outcome: code }), count((r) => r.type === 'connection.failed' && r.service === svc && r.code === code), `${svc} ${code}`);
    }
    const closedOf = records.filter((r): r is Extract<AuditRecord, { type: 'connection.closed' }> => r.type === 'connection.closed' && r.service === svc);
    assert.equal(value(m, 'secretless_connection_bytes_total', { service: svc, direction: 'from_client' }), closedOf.reduce((n, r) => n + r.bytesFromClient, 0));
    assert.equal(value(m, 'secretless_connection_bytes_total', { service: svc, direction: 'to_client' }), closedOf.reduce((n, r) => n + r.bytesToClient, 0));
  }
  assert.equal(value(m, 'secretless_connections_total', { service: 'app', outcome: 'ok' }), 29);
  assert.equal(value(m, 'secretless_connections_total', { service: 'wrong', outcome: 'target_rejected_credentials' }), 8);
  assert.equal(value(m, 'secretless_connections_total', { service: 'missing', outcome: 'provider_failed' }), 6);
  assert.ok(value(m, 'secretless_connection_bytes_total', { service: 'app', direction: 'to_client' }) > 24 * 1000, 'the query results went to the clients');

  // Authentication latency: one observation per login, summing the audit's authMs.
  const authMs = records.flatMap((r) => (r.type === 'connection.authenticated' && r.service === 'app' ? [r.authMs!] : []));
  assert.equal(value(m, 'secretless_auth_duration_seconds_count', { service: 'app' }), authMs.length);
  assert.ok(Math.abs(value(m, 'secretless_auth_duration_seconds_sum', { service: 'app' }) - authMs.reduce((a, b) => a + b, 0) / 1000) < 1e-6);
  const buckets = m.flatMap((f) => f.samples).filter((s) => s.name === 'secretless_auth_duration_seconds_bucket' && s.labels.service === 'app');
  assert.equal(buckets.at(-1)!.labels.le, '+Inf');
  assert.equal(buckets.at(-1)!.value, authMs.length);
  const bound = (i: number) => (buckets[i]!.labels.le === '+Inf' ? Infinity : Number(buckets[i]!.labels.le));
  for (let i = 1; i < buckets.length; i++) {
    assert.ok(bound(i) > bound(i - 1), 'buckets in order');
    assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, 'cumulative buckets');
    const le = bound(i) * 1000;
    assert.equal(buckets[i]!.value, authMs.filter((ms) => ms <= le).length, `bucket le=${buckets[i]!.labels.le}`);
  }

  // Credential lookups by provider and outcome.
  const fetched = (outcome: string) =>
    count((r) => (outcome === 'failed' ? r.type === 'credential.failed' && r.provider === 'env' : r.type === 'credential.fetched' && r.provider === 'env' && r.cached === (outcome === 'cached')));
  for (const outcome of ['ok', 'cached', 'failed']) assert.equal(value(m, 'secretless_credential_fetches_total', { provider: 'env', outcome }), fetched(outcome), outcome);
  assert.equal(value(m, 'secretless_credential_fetches_total', { provider: 'env', outcome: 'failed' }), 6);

  // Gauges: services up, the identity session and its time to expiry; one config load.
  for (const svc of ['app', 'wrong', 'missing']) assert.equal(value(m, 'secretless_service_up', { service: svc }), 1);
  assert.equal(value(m, 'secretless_identity_session_state', { identity: 'ci', type: 'token-env', state: 'active' }), 1);
  assert.equal(value(m, 'secretless_identity_session_state', { identity: 'ci', type: 'token-env', state: 'refresh-failed' }), 0);
  const left = value(m, 'secretless_identity_time_to_expiry_seconds', { identity: 'ci' });
  assert.ok(left > 3000 && left <= 3600, `time to expiry ${left}`);
  assert.equal(value(m, 'secretless_config_loads_total', { outcome: 'loaded' }), count((r) => r.type === 'config.loaded'));
});

test('the exposition follows the Prometheus conventions: names, types, HELP, units, labels', async () => {
  const m = await scrape();
  const ours = m.filter((f) => f.name.startsWith('secretless_'));
  // The parser names counters without their _total; the samples keep it.
  const expected: Record<string, Family['type']> = {
    secretless_connections: 'counter',
    secretless_auth_duration_seconds: 'histogram',
    secretless_connection_bytes: 'counter',
    secretless_open_connections: 'gauge',
    secretless_service_up: 'gauge',
    secretless_credential_fetches: 'counter',
    secretless_identity_session_state: 'gauge',
    secretless_identity_time_to_expiry_seconds: 'gauge',
    secretless_config_loads: 'counter',
  };
  for (const [name, type] of Object.entries(expected)) assert.equal(m.find((f) => f.name === name)?.type, type, name);
  for (const f of ours) {
    assert.match(f.name, /^[a-z_][a-z0-9_]*$/, 'snake_case');
    assert.ok(f.help.length > 20, `${f.name} has a HELP text`);
    for (const s of f.samples) {
      if (f.type === 'counter') assert.match(s.name, /_total$/, `${s.name}: counters end in _total`);
      else assert.doesNotMatch(s.name, /_total$/, `${s.name}: only counters end in _total`);
      for (const k of Object.keys(s.labels)) assert.match(k, /^[a-z_]+$/, `${s.name}: label ${k}`);
    }
    assert.doesNotMatch(f.name, /_(ms|milliseconds|kb|mb)(_|$)/, `${f.name}: base units`);
  }
  // Process metrics under their standard names.
  assert.equal(m.find((f) => f.name === 'process_resident_memory_bytes')?.type, 'gauge');
  assert.equal(m.find((f) => f.name === 'process_cpu_seconds')?.type, 'counter');
});

test('after failures: /ready is 503 and says why, the failure counters follow, and no scrape holds a secret', async () => {
  // A service whose port another process holds, an identity whose token is for another audience.
  blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: ports.blocked }, resolve));
  writeFileSync(configPath, config(true));
  let mark = serve.output().length;
  serve.child.kill('SIGHUP');
  await serve.waitFor(/config reloaded/, mark);
  await waitFor('not ready', async () => (await get('/ready')).status === 503);
  const ready = await get('/ready');
  assert.match(ready.body, /^not ready\n/);
  assert.match(ready.body, /^service blocked: failed: .*EADDRINUSE|^service blocked: failed: .*in use/m);
  assert.match(ready.body, /^identity stale: refresh-failed \(the token's audience \(aud: 'https:\/\/gitlab\.example\.com'\) is not the configured 'https:\/\/db\.example\.com'; it was not used\)$/m);
  assert.doesNotMatch(ready.body, /service app|identity ci/, 'only what is not ready');
  assert.equal((await get('/live')).status, 200, 'alive all the same');

  // A config that does not parse: rejected, the running one stays.
  writeFileSync(configPath, 'version: "2"\nservices: [\n');
  mark = serve.output().length;
  serve.child.kill('SIGHUP');
  await serve.waitFor(/new config rejected/, mark);

  await waitFor('the audit log to have the rejection', () => auditRecords().some((r) => r.type === 'config.rejected'));
  const m = await scrape();
  const records = auditRecords();
  assert.equal(value(m, 'secretless_service_up', { service: 'blocked' }), 0);
  assert.equal(value(m, 'secretless_service_up', { service: 'app' }), 1);
  assert.equal(value(m, 'secretless_identity_session_state', { identity: 'stale', type: 'token-env', state: 'refresh-failed' }), 1);
  assert.equal(value(m, 'secretless_identity_failures_total', { identity: 'stale', step: 'token' }), records.filter((r) => r.type === 'identity.failed' && r.identity === 'stale').length);
  assert.equal(value(m, 'secretless_identity_failures_total', { identity: 'stale', step: 'token' }), 1);
  assert.equal(value(m, 'secretless_config_loads_total', { outcome: 'loaded' }), 2);
  assert.equal(value(m, 'secretless_config_loads_total', { outcome: 'rejected' }), 1);
  assert.equal(records.filter((r) => r.type === 'config.rejected').length, 1);

  for (const secret of [cluster.users.scram.password, WRONG_PW, CI_TOKEN, STALE_TOKEN]) {
    for (const text of [...scrapes, ready.body]) assert.ok(!text.includes(secret), 'a secret in a scrape');
  }
});
