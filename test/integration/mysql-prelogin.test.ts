// MySQL's server speaks first, and the broker used to dial the target and fetch the
// credentials for every client that merely connected. Against a real MariaDB: silent
// clients now get the broker's greeting and cost the server no connection and the
// broker no credential fetch, real clients keep logging in meanwhile, and target logins
// above the per-service cap (maxConcurrentLogins) get MySQL's 1040 naming the setting.
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, test } from 'node:test';
import mysql from 'mysql2/promise';
import { CAP, encodeGreeting, encodePacket } from '../../broker/connectors/mysql/codec.js';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { startMariaDb, type MariaDb } from '../fixtures/mariadb-cluster.js';
import { waitFor } from '../fixtures/wait-for.js';

let db: MariaDb;
let tb: TestBroker;
let stalling: net.Server;
let stalled = 0;
const SILENT = 60;

before(async () => {
  // Fewer server slots than silent clients: before the fix they filled the server.
  db = await startMariaDb({ maxConnections: SILENT / 2 });
  // A server that greets and then never answers a login: logins to it stay in progress.
  stalling = net.createServer((s) => {
    s.on('error', () => {});
    s.write(encodePacket(0, encodeGreeting({ serverVersion: '10.11.0-stalling', connectionId: 7, scramble: Buffer.alloc(20, 0x41), capabilities: CAP.PROTOCOL_41 | CAP.SECURE_CONNECTION | CAP.PLUGIN_AUTH | CAP.LONG_PASSWORD, mariadbCapabilities: 0, charset: 45, status: 2, authPlugin: 'mysql_native_password' })));
    s.once('data', () => stalled++);
  });
  await new Promise<void>((r) => stalling.listen(0, '127.0.0.1', () => r()));
  const stallingPort = (stalling.address() as net.AddressInfo).port;
  tb = await startTestBroker(
    `version: "2"
services:
  app:
    connector: mysql
    listenOn: tcp://127.0.0.1:0
    credentials:
      host: 127.0.0.1
      port: ${db.port}
      username: ${db.users.native.name}
      password: { from: env, get: PW }
      sslmode: disable
  capped:
    connector: mysql
    listenOn: tcp://127.0.0.1:0
    credentials:
      host: 127.0.0.1
      port: ${stallingPort}
      username: x
      password: { from: env, get: PW }
      sslmode: disable
    verboseClientErrors: true
    config:
      maxConcurrentLogins: 1
`,
    { env: { PW: db.users.native.password } },
  );
});

after(async () => {
  stalling?.close();
  await tb?.stop();
  await db?.stop();
});

function connect(service: string): Promise<mysql.Connection> {
  return mysql.createConnection({ host: '127.0.0.1', port: tb.tcp(service).port, user: 'someone', password: 'ignored', database: 'app' });
}

/** Connections the server holds other than the one asking. */
async function serverConnections(): Promise<number> {
  return Number(await db.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Daemon'"));
}

const fetches = () => tb.audit.records.filter((r) => r.type === 'credential.fetched' && r.service === 'app').length;

test('silent clients get the broker greeting and cost the server no connection and the broker no credential fetch', async () => {
  const first = await connect('app');
  await first.query('SELECT 1');
  await first.end();
  await waitFor('the server has no client connection', async () => (await serverConnections()) === 0);
  const fetchedBefore = fetches();
  const silent = await Promise.all(
    Array.from({ length: SILENT }, async () => {
      const s = net.connect({ host: '127.0.0.1', port: tb.tcp('app').port });
      s.on('error', () => {});
      const greeting = await new Promise<Buffer>((resolve) => s.once('data', resolve));
      return { s, greeting };
    }),
  );
  try {
    for (const { greeting } of silent) assert.equal(greeting[4], 10, 'a protocol-10 greeting');
    assert.equal(await serverConnections(), 0, 'no server connection for a silent client');
    assert.equal(fetches(), fetchedBefore, 'no credential fetch for a silent client');
    // More silent clients than the server has slots, and a real client still logs in.
    const conn = await connect('app');
    const [rows] = await conn.query('SELECT CURRENT_USER() AS u');
    assert.match((rows as { u: string }[])[0]!.u, new RegExp(`^${db.users.native.name}@`));
    await conn.end();
  } finally {
    for (const { s } of silent) s.destroy();
  }
  await waitFor('every silent connection is closed in the audit', () => {
    const of = (type: string) => tb.audit.records.filter((r) => r.type === type && 'service' in r && r.service === 'app').length;
    return of('connection.closed') === of('connection.opened');
  });
});

test('target logins above maxConcurrentLogins get 1040 naming the setting', async () => {
  const holding = connect('capped');
  holding.catch(() => {});
  await waitFor('the first login is in progress at the target', () => stalled === 1);
  const err = await connect('capped').then(
    () => assert.fail('the second login should be refused'),
    (e: { errno?: number; message: string }) => e,
  );
  assert.equal(err.errno, 1040);
  assert.match(err.message, /1 logins in progress.*maxConcurrentLogins/); // verboseClientErrors; others get the catalog's summary
  const failed = tb.audit.records.filter((r) => r.type === 'connection.failed' && r.service === 'capped');
  assert.ok(failed.some((r) => r.type === 'connection.failed' && r.code === 'too_many_connections'));
  assert.equal(stalled, 1, 'the refused login never reached the target');
  tb.broker.stop({ drainMs: 0 }).catch(() => {}); // frees the held login (its client gets an error)
  await holding.then(
    (c) => c.destroy(),
    () => {},
  );
});

test('no password in any log line or audit record', () => {
  assert.ok(!tb.output().includes(db.users.native.password));
});
