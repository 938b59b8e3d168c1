// Tunnels through a real sshd bastion: psql through a pg service with sshTunnel*
// credentials to a real PostgreSQL (the broker both tunnels and logs in; mariadb and
// redis-cli the same through mysql and redis services), one shared
// bastion login re-established after it drops, `connector: ssh-tunnel` as a raw
// forward, and clear errors for a wrong bastion host key and an unreachable database.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { waitFor } from '../fixtures/wait-for.js';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { closedPort } from '../fixtures/free-port.js';
import { startMariaDb, type MariaDb } from '../fixtures/mariadb-cluster.js';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { clientEnv, run } from '../fixtures/run.js';
import { startRedis, type RedisServer } from '../fixtures/redis-server.js';
import { makeKey, startSshd, type KeyFiles, type Sshd } from '../fixtures/sshd.js';

let sshd: Sshd;
let cluster: PgCluster;
let maria: MariaDb;
let redis: RedisServer;
let tb: TestBroker;
let dir: string;
let bastionKey: KeyFiles;
const clientOutput: string[] = [];

const logins = () => sshd.logins();

async function query(service: string, sql: string) {
  const { host, port } = tb.tcp(service);
  // As fixtures/run.ts psql(), plus a stdin error handler: psql -c may exit before run() ends its stdin (EPIPE).
  const r = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-h', host, '-p', String(port), '-U', 'whoever', '-d', 'app', '-Atc', sql], {
    env: clientEnv({ PGSSLMODE: 'prefer' }),
    onSpawn: (c) => c.stdin?.on('error', () => {}),
  });
  clientOutput.push(r.stdout, r.stderr);
  return r;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sl-tunnel-test-'));
  [sshd, cluster, maria, redis] = await Promise.all([startSshd(), startPgCluster(), startMariaDb(), startRedis({ auth: 'acl' })]);
  bastionKey = makeKey(dir, 'bastion', 'ed25519');
  sshd.authorize(bastionKey.publicLine);
  const otherHost = makeKey(dir, 'otherhost', 'ed25519');
  const db = (name: string, extra: Record<string, string> = {}) => {
    const creds: Record<string, string> = {
      // The database as the bastion sees it.
      host: '127.0.0.1',
      port: String(cluster.port),
      username: cluster.users.scram.name,
      password: '{ from: env, get: PW_SCRAM }',
      sslmode: 'disable',
      sshTunnelAddress: `127.0.0.1:${sshd.port}`,
      sshTunnelUser: sshd.user,
      sshTunnelPrivateKey: `{ from: file, get: ${bastionKey.path} }`,
      sshTunnelHostKey: JSON.stringify(sshd.hostKeyFingerprint),
      ...extra,
    };
    return `  ${name}:
    connector: pg
    listenOn: tcp://127.0.0.1:0
    verboseClientErrors: true # the tests read the bastion's part of each error from psql
    credentials:
${Object.entries(creds).map(([k, v]) => `      ${k}: ${v}`).join('\n')}
`;
  };
  tb = await startTestBroker(
    `version: "2"
services:
${db('tunnelled')}
${db('db-down', { port: `{ from: file, get: ${join(dir, 'down-port')} }` })}
${db('bastion-hostkey', { sshTunnelHostKey: JSON.stringify(otherHost.publicLine) })}
  maria:
    connector: mysql
    listenOn: tcp://127.0.0.1:0
    credentials:
      host: 127.0.0.1
      port: ${maria.port}
      username: ${maria.users.native.name}
      password: { from: env, get: PW_MARIA }
      sslmode: disable
      sshTunnelAddress: 127.0.0.1:${sshd.port}
      sshTunnelUser: ${sshd.user}
      sshTunnelPrivateKey: { from: file, get: ${bastionKey.path} }
      sshTunnelHostKey: ${JSON.stringify(sshd.hostKeyFingerprint)}
  redis:
    connector: redis
    listenOn: tcp://127.0.0.1:0
    credentials:
      host: 127.0.0.1
      port: ${redis.port}
      username: app
      password: { from: env, get: PW_REDIS }
      sslmode: disable
      sshTunnelAddress: 127.0.0.1:${sshd.port}
      sshTunnelUser: ${sshd.user}
      sshTunnelPrivateKey: { from: file, get: ${bastionKey.path} }
      sshTunnelHostKey: ${JSON.stringify(sshd.hostKeyFingerprint)}
  raw:
    connector: ssh-tunnel
    listenOn: tcp://127.0.0.1:0
    credentials:
      address: 127.0.0.1:${sshd.port}
      user: ${sshd.user}
      privateKey: { from: file, get: ${bastionKey.path} }
      hostKey: ${JSON.stringify(`[127.0.0.1]:${sshd.port} ${sshd.hostKeyLine}`)}
      remoteHost: 127.0.0.1
      remotePort: ${cluster.port}
`,
    { env: { PW_SCRAM: cluster.users.scram.password, PW_MARIA: maria.users.native.password, PW_REDIS: redis.app.password } },
  );
});

after(async () => {
  await tb?.stop();
  await Promise.all([sshd?.stop(), cluster?.stop(), maria?.stop(), redis?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** The bastion's sshd session processes: one per open bastion connection. */
const bastionSessions = () => sshd.sessions();

/** Ends the bastion's sshd session processes by pid. */
function dropBastionConnections(): void {
  for (const child of bastionSessions()) process.kill(child, 'SIGTERM');
}

describe('SSH tunnels through a real sshd bastion', () => {
  test('psql through a pg service tunnelled via the bastion, password injected', async () => {
    const r = await query('tunnelled', 'select current_user');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), cluster.users.scram.name);
    const auth = tb.audit.records.find((a) => a.type === 'connection.authenticated' && a.service === 'tunnelled');
    assert.ok(auth && auth.type === 'connection.authenticated' && auth.authMethod.startsWith('scram-sha-256'));
  });

  test('the service shares one bastion login across its connections', async () => {
    const before = logins();
    const results = await Promise.all([1, 2, 3].map((n) => query('tunnelled', `select ${n}`)));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    assert.equal(logins(), before, 'no new bastion logins');
  });

  test('a dropped bastion connection is re-established by the next connection', async () => {
    const before = logins();
    dropBastionConnections();
    // At once, whether or not the pool has seen the close yet: the next psql logs in to
    // the bastion again (a channel that fails on a dead connection gets one fresh attempt).
    const r = await query('tunnelled', 'select 2');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '2');
    assert.equal(logins(), before + 1);
  });

  test('database unreachable behind the bastion: a clear error, naming the bastion', async () => {
    // A port free right now (the file provider reads it per connection).
    writeFileSync(join(dir, 'down-port'), String(await closedPort()));
    const r = await query('db-down', 'select 1');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /cannot reach the target 127\.0\.0\.1:\d+ of service 'db-down' through the SSH bastion 127\.0\.0\.1:\d+: Connection refused/i);
  });

  test('wrong bastion host key: refused before any login', async () => {
    const r = await query('bastion-hostkey', 'select 1');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /presented host key SHA256:\S+, which does not match the configured hostKey/);
  });

  test('the mariadb client through a mysql service tunnelled via the bastion', async () => {
    const before = logins();
    const { port } = tb.tcp('maria');
    const r = await run('mariadb', ['--no-defaults', '-h', '127.0.0.1', '-P', String(port), '-u', 'anyone', '-N', '-B', '-e', 'SELECT CURRENT_USER()'], {
      timeoutMs: 60_000,
      onSpawn: (c) => c.stdin?.on('error', () => {}),
    });
    clientOutput.push(r.stdout, r.stderr);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${maria.users.native.name}@`));
    // Its own bastion connection: pooled per service.
    assert.equal(logins(), before + 1);
  });

  test('redis-cli through a redis service tunnelled via the bastion', async () => {
    const r = await run('redis-cli', ['-p', String(tb.tcp('redis').port)], { input: 'ACL WHOAMI\nSET app:via tunnel\nGET app:via\n', env: { PATH: process.env.PATH } });
    clientOutput.push(r.stdout, r.stderr);
    assert.equal(r.stdout, 'app\nOK\ntunnel\n');
    const auth = tb.audit.records.find((a) => a.type === 'connection.authenticated' && a.service === 'redis');
    assert.ok(auth && auth.type === 'connection.authenticated' && auth.target === `127.0.0.1:${redis.port}`);
  });

  test('connector ssh-tunnel forwards raw TCP: psql logs in itself through it', async () => {
    const { port } = tb.tcp('raw');
    const r = await run('psql', ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', cluster.users.trust.name, '-d', 'app', '-Atc', 'select 40 + 2'], {
      env: clientEnv({ PGSSLMODE: 'disable' }),
      onSpawn: (c) => c.stdin?.on('error', () => {}),
    });
    clientOutput.push(r.stdout, r.stderr);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '42');
    const auth = tb.audit.records.find((a) => a.type === 'connection.authenticated' && a.service === 'raw');
    assert.ok(auth && auth.type === 'connection.authenticated' && auth.target === `127.0.0.1:${cluster.port} via 127.0.0.1:${sshd.port}`);
  });

  test('the broker keeps serving after the failures', async () => {
    const r = await query('tunnelled', 'select 3');
    assert.equal(r.stdout.trim(), '3');
  });

  test('the database password and the bastion key never appear in output', () => {
    const everything = tb.output() + clientOutput.join('');
    assert.ok(!everything.includes(cluster.users.scram.password), 'password leaked');
    assert.ok(!everything.includes(maria.users.native.password), 'mariadb password leaked');
    assert.ok(!everything.includes(redis.app.password), 'redis password leaked');
    for (const line of bastionKey.privateText.split('\n').filter((l) => l && !l.startsWith('-----'))) assert.ok(!everything.includes(line), 'key leaked');
  });

  test('stopping the broker closes its bastion connections', async () => {
    assert.ok(bastionSessions().length > 0, 'the services above hold bastion connections');
    await tb.stop();
    await waitFor('the bastion sessions to end', () => bastionSessions().length === 0);
  });
});
