// PostgreSQL connection lifecycle against a real server: clients that leave while the
// broker is still logging in (raw, TLS, node-postgres timing out) leave no backend
// session behind and are audited as closed; a bad startup length is closed silently,
// as PostgreSQL does; a client that refuses the broker's certificate is noticed at
// once; cancel requests are audited as closed.
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { configYaml, type ServiceYaml } from '../fixtures/yaml.js';
import { waitFor } from '../fixtures/wait-for.js';

let cluster: PgCluster;
let tb: TestBroker;

/** Each service tags its backend sessions with application_name = its name. */
function service(name: string, config?: ServiceYaml['config']): ServiceYaml {
  return {
    connector: 'pg',
    credentials: {
      host: '127.0.0.1',
      port: cluster.port,
      username: cluster.users.scram.name,
      password: { from: 'env', get: 'PW' },
      sslmode: 'disable',
      application_name: name,
    },
    ...(config ? { config } : {}),
  };
}

before(async () => {
  cluster = await startPgCluster();
  const names = ['raw', 'node-pg', 'ended', 'cancel', 'plain'];
  const services = Object.fromEntries(names.map((n) => [n, service(n)]));
  const yaml = configYaml({ ...services, tls: service('tls', { clientTls: true }), refused: service('refused', { clientTls: true }) });
  tb = await startTestBroker(yaml, { env: { PW: cluster.users.scram.password } });
});

after(async () => {
  await tb?.stop();
  await cluster?.stop();
});

async function backendSessions(app: string): Promise<number> {
  return Number(await cluster.psql(`select count(*) from pg_stat_activity where application_name = '${app}'`));
}

function records(service: string, type: string) {
  return tb.audit.records.filter((r) => r.type === type && 'service' in r && r.service === service);
}

/** Every connection of the service opened so far has its connection.closed record. */
function allClosed(service: string, atLeast: number): boolean {
  const opened = records(service, 'connection.opened');
  return opened.length >= atLeast && records(service, 'connection.closed').length === opened.length;
}

function startupPacket(): Buffer {
  const params = Buffer.from('user\0someone\0database\0app\0\0');
  const pkt = Buffer.alloc(8 + params.length);
  pkt.writeInt32BE(pkt.length, 0);
  pkt.writeInt32BE(196608, 4);
  params.copy(pkt, 8);
  return pkt;
}

function sslRequest(): Buffer {
  const b = Buffer.alloc(8);
  b.writeInt32BE(8, 0);
  b.writeInt32BE(80877103, 4);
  return b;
}

function connectRaw(name: string): Promise<net.Socket> {
  const { host, port } = tb.tcp(name);
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port }, () => resolve(s));
    s.on('error', reject);
  });
}

/** Sends SSLRequest and waits for the one-byte answer. */
async function askForTls(name: string): Promise<net.Socket> {
  const s = await connectRaw(name);
  s.write(sslRequest());
  const answer = await new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString())));
  assert.equal(answer, 'S');
  return s;
}

test('raw clients that close right after their startup message leave no backend session, and are audited as closed', async () => {
  const n = 20;
  await Promise.all(
    Array.from({ length: n }, async () => {
      const s = await connectRaw('raw');
      s.end(startupPacket());
    }),
  );
  await waitFor('every raw connection is closed in the audit', () => allClosed('raw', n));
  await waitFor('no backend session of the raw service is left', async () => (await backendSessions('raw')) === 0);
});

test('TLS clients that close right after their startup message leave no backend session', async () => {
  const n = 10;
  await Promise.all(
    Array.from({ length: n }, async () => {
      const raw = await askForTls('tls');
      const secure = tls.connect({ socket: raw, rejectUnauthorized: false });
      await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
      secure.end(startupPacket());
    }),
  );
  await waitFor('every TLS connection is closed in the audit', () => allClosed('tls', n));
  await waitFor('no backend session of the tls service is left', async () => (await backendSessions('tls')) === 0);
});

test('node-postgres giving up during the login (connectionTimeoutMillis) leaves no backend session', async () => {
  const { host, port } = tb.tcp('node-pg');
  const n = 20;
  let timedOut = 0;
  for (let i = 0; i < n; i++) {
    const client = new pg.Client({ host, port, database: 'app', user: 'whoever', connectionTimeoutMillis: 1 + (i % 5) });
    client.on('error', () => {});
    await client.connect().then(
      () => client.end(),
      () => void timedOut++,
    );
  }
  assert.ok(timedOut > 0, 'some attempts gave up before the login finished');
  await waitFor('every node-postgres connection is closed in the audit', () => allClosed('node-pg', n));
  await waitFor('no backend session of the node-pg service is left', async () => (await backendSessions('node-pg')) === 0);
});

test('node-postgres connect-then-end (Terminate before the startup packet) is closed silently, with no error raised', async () => {
  const { host, port } = tb.tcp('ended');
  const errors: unknown[] = [];
  const onUncaught = (err: unknown) => errors.push(err);
  process.on('uncaughtException', onUncaught);
  try {
    for (let i = 0; i < 5; i++) {
      const client = new pg.Client({ host, port, database: 'app', user: 'whoever' });
      client.on('error', (e) => errors.push(e));
      // The connect promise of a client ended this early never settles (node-postgres).
      void client.connect().catch((e) => errors.push(e));
      await client.end();
    }
    await waitFor('the ended connections are closed in the audit', () => allClosed('ended', 5));
  } finally {
    process.off('uncaughtException', onUncaught);
  }
  assert.deepEqual(errors.map(String), []);
  // And a raw client sending an absurd length reads nothing but the close.
  const s = await connectRaw('ended');
  const received: Buffer[] = [];
  s.on('data', (d: Buffer) => received.push(d));
  s.write(Buffer.from([0x58, 0, 0, 0, 4]));
  await new Promise((r) => s.once('close', r));
  assert.equal(Buffer.concat(received).length, 0);
});

test('a client that refuses the broker certificate is noticed at once: failed and closed in the audit', async () => {
  const raw = await askForTls('refused');
  const secure = tls.connect({ socket: raw, servername: 'localhost' }); // the broker's own certificate is not trusted here
  const err = await new Promise<Error>((resolve) => secure.once('error', resolve));
  assert.match(err.message, /self[- ]signed|unable to verify|certificate/i);
  // The broker's startup deadline is 30 s; this must come from noticing the close.
  await waitFor('the refused connection is failed and closed in the audit', () => allClosed('refused', 1), 10_000);
  const failed = records('refused', 'connection.failed');
  assert.equal(failed.length, 1);
  assert.match((failed[0] as { reason: string }).reason, /TLS handshake|closed the connection/);
});

test('cancel-request connections are audited as closed', async () => {
  const { host, port } = tb.tcp('plain');
  const client = new pg.Client({ host, port, database: 'app', user: 'whoever' });
  await client.connect();
  const running = client.query('select pg_sleep(30)').then(
    () => 'finished',
    (e: Error & { code?: string }) => e.code,
  );
  await waitFor('the query runs', async () => Number(await cluster.psql("select count(*) from pg_stat_activity where application_name = 'plain' and query like 'select pg_sleep%' and state = 'active'")) === 1);
  const cancel = Buffer.alloc(16);
  cancel.writeInt32BE(16, 0);
  cancel.writeInt32BE(80877102, 4);
  const keyData = (client as unknown as { processID: number; secretKey: number });
  cancel.writeInt32BE(keyData.processID, 8);
  cancel.writeInt32BE(keyData.secretKey, 12);
  const s = await connectRaw('plain');
  s.end(cancel);
  await new Promise((r) => s.once('close', r));
  assert.equal(await running, '57014', 'the query was cancelled');
  await client.end();
  await waitFor('the session and the cancel request are closed in the audit', () => allClosed('plain', 2));
  assert.equal(records('plain', 'connection.opened').length, 2);
});

test('no password in any log line or audit record', () => {
  assert.ok(!tb.output().includes(cluster.users.scram.password));
});
