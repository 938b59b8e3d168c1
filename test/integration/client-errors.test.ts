// What a client that merely can connect learns from a failed login, through the real
// psql, mariadb and ssh: on TCP the catalog message and a reference, never a provider id
// (a file path), the target's address or a user name; the reference leads to the details
// in the log and audit. Unix sockets (only the user can open them) and services with
// `verboseClientErrors: true` get the details.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { closedPort } from '../fixtures/free-port.js';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { startMariaDb, type MariaDb } from '../fixtures/mariadb-cluster.js';
import pg from 'pg';
import { clientEnv, psql, run } from '../fixtures/run.js';
import { makeKey, sshOptions } from '../fixtures/sshd.js';
import { pgServiceYaml, rawYaml } from '../fixtures/yaml.js';

let cluster: PgCluster;
let maria: MariaDb;
let broker: TestBroker;
let yaml = '';
let dir: string;
let downPort: number;
const MISSING_FILE_NAME = 'no-such-password-file-7c1';
const SSH_USER = 'deploy-user-5e2';

function pgService(name: string, listenOn: string, password: string, options?: Record<string, boolean>): string {
  return pgServiceYaml(name, { listenOn, targetPort: cluster.port, password: rawYaml(password), options });
}

before(async () => {
  [cluster, maria] = await Promise.all([startPgCluster(), startMariaDb()]);
  dir = mkdtempSync(join(tmpdir(), 'sl-clienterr-'));
  downPort = await closedPort();
  const missing = `{from: file, get: ${join(dir, MISSING_FILE_NAME)}}`;
  broker = await startTestBroker(yaml = `version: 2
services:
${pgService('pg-provider', 'tcp://127.0.0.1:0', missing)}${pgService('pg-wrong', 'tcp://127.0.0.1:0', 'not-the-password')}${pgService('pg-unix', `unix://${join(dir, '.s.PGSQL.5432')}`, missing)}${pgService('pg-verbose', 'tcp://127.0.0.1:0', missing, { verboseClientErrors: true })}${pgService('pg-ok', 'tcp://127.0.0.1:0', JSON.stringify(cluster.users.scram.password))}  my-ok:
    connector: mysql
    listenOn: tcp://127.0.0.1:0
    credentials: {host: 127.0.0.1, port: ${maria.port}, username: ${maria.users.native.name}, password: ${JSON.stringify(maria.users.native.password)}, sslmode: disable}
  my-down:
    connector: mysql
    listenOn: tcp://127.0.0.1:0
    credentials: {host: 127.0.0.1, port: ${downPort}, username: ${SSH_USER}, password: x}
  ssh-down:
    connector: ssh
    listenOn: tcp://127.0.0.1:0
    config: {clientAuth: none, insecureIgnoreHostKey: true}
    credentials: {address: '127.0.0.1:${downPort}', user: ${SSH_USER}, password: x}
`);
});
after(async () => {
  await broker?.stop();
  await cluster?.stop();
  await maria?.stop();
});

/** The reference in the client's message, checked against the audit record of that connection. */
function referenceIn(output: string, service: string, details: RegExp): string {
  const m = /reference ([\w-]+); the details are in the broker's log/.exec(output);
  assert.ok(m, `no reference in: ${output}`);
  const failed = broker.audit.records.find((r) => r.type === 'connection.failed' && r.connectionId === m[1]);
  assert.ok(failed && failed.type === 'connection.failed', `no connection.failed record for ${m[1]}`);
  assert.equal(failed.service, service);
  assert.match(failed.reason, details, 'the audit record keeps the details');
  assert.ok(broker.logs.some((l) => l.includes(m[1]!) && details.test(l)), 'the log line has the reference and the details');
  return m[1]!;
}

describe('client-facing errors', () => {
  test('a brokered session may change its own password; the broker is then locked out, and the audit says so plainly', async () => {
    await cluster.psql(`CREATE ROLE self_changer LOGIN PASSWORD 'orig-pw-123'; GRANT CONNECT ON DATABASE app TO self_changer;`);
    await broker.apply(yaml + pgServiceYaml('pg-self', { targetPort: cluster.port, username: 'self_changer', password: 'orig-pw-123' }));
    const port = broker.tcp('pg-self').port;
    // What the security model says: the client has every right of the brokered role.
    const changed = await psql('127.0.0.1', port, "ALTER ROLE CURRENT_USER PASSWORD 'the-client-knows-this'");
    assert.equal(changed.code, 0, changed.stderr);
    const locked = await psql('127.0.0.1', port, 'select 1');
    assert.match(locked.stderr, /the target rejected the broker's configured credentials \(reference /);
    const ref = referenceIn(locked.stderr, 'pg-self', /self_changer.*password authentication failed/);
    const failed = broker.audit.records.find((r) => r.type === 'connection.failed' && r.connectionId === ref);
    assert.ok(failed?.type === 'connection.failed');
    assert.equal(failed.code, 'target_rejected_credentials');
    assert.match(failed.reason, /a brokered session may change its own/);
  });

  test('psql over TCP: a provider failure and rejected credentials give the catalog message and a reference', async () => {
    const provider = await psql('127.0.0.1', broker.tcp('pg-provider').port, 'select 1');
    assert.notEqual(provider.code, 0);
    assert.match(provider.stderr, /FATAL: {2}a credential provider failed \(reference /);
    assert.ok(!provider.stderr.includes(MISSING_FILE_NAME) && !provider.stderr.includes(dir), provider.stderr);
    referenceIn(provider.stderr, 'pg-provider', new RegExp(MISSING_FILE_NAME));

    const wrong = await psql('127.0.0.1', broker.tcp('pg-wrong').port, 'select 1');
    assert.match(wrong.stderr, /FATAL: {2}the target rejected the broker's configured credentials \(reference /);
    assert.ok(!wrong.stderr.includes('scram_user') && !wrong.stderr.includes(String(cluster.port)), wrong.stderr);
    referenceIn(wrong.stderr, 'pg-wrong', /scram_user|password authentication failed/);
  });

  test("a target's own error keeps its SQLSTATE and errno for drivers (3D000, 1049), with the catalog message", async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: broker.tcp('pg-ok').port, database: 'no_such_db_4d1', user: 'x' });
    const err = await client.connect().then(() => undefined, (e: Error & { code?: string }) => e);
    await client.end().catch(() => {});
    assert.ok(err, 'the connection must fail');
    assert.equal(err.code, '3D000');
    assert.match(err.message, /the target refused the connection \(reference /);
    referenceIn(err.message, 'pg-ok', /no_such_db_4d1.*does not exist/);
    const r = await run('mariadb', ['--no-defaults', '-h', '127.0.0.1', '-P', String(broker.tcp('my-ok').port), '-u', 'x', '-D', 'no_such_db_4d1', '-N', '-B', '-e', 'select 1'], { timeoutMs: 60_000 });
    assert.match(r.stderr, /ERROR 1049 \(42000\).*the target refused the connection \(reference /);
    referenceIn(r.stderr, 'my-ok', /no_such_db_4d1/);
  });

  test('psql over a Unix socket, and over TCP with verboseClientErrors, get the details', async () => {
    const unix = await psql(dir, 5432, 'select 1');
    assert.match(unix.stderr, new RegExp(`provider 'file' could not get '[^']*${MISSING_FILE_NAME}': no such file`));
    const verbose = await psql('127.0.0.1', broker.tcp('pg-verbose').port, 'select 1');
    assert.match(verbose.stderr, new RegExp(`could not get '[^']*${MISSING_FILE_NAME}'`));
  });

  test('mariadb over TCP: an unreachable target is not named', async () => {
    const r = await run('mariadb', ['--no-defaults', '-h', '127.0.0.1', '-P', String(broker.tcp('my-down').port), '-u', 'someone', '-N', '-B', '-e', 'select 1'], { timeoutMs: 60_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /the target could not be reached \(reference /);
    assert.ok(!r.stderr.includes(String(downPort)) && !r.stderr.includes(SSH_USER), r.stderr);
    referenceIn(r.stderr, 'my-down', new RegExp(String(downPort)));
  });

  test('ssh over TCP: the disconnect message names neither the target nor its user', async () => {
    const key = makeKey(dir, 'client', 'ed25519');
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, '');
    const r = await run('ssh', [...sshOptions({ port: broker.tcp('ssh-down').port, knownHosts, key: key.path, strict: 'no' }), 'anyone@127.0.0.1', 'true'], {
      env: clientEnv(),
      timeoutMs: 60_000,
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Received disconnect from .*: the target (could not be reached|refused the connection) \(reference /);
    assert.ok(!r.stderr.includes(String(downPort)) && !r.stderr.includes(SSH_USER), r.stderr);
    referenceIn(r.stderr, 'ssh-down', new RegExp(String(downPort)));
  });
});
