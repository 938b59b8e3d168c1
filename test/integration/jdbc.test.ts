// pgjdbc, the driver inside DBeaver, DataGrip and IntelliJ, through the broker with its
// default settings (sslmode=prefer): the broker answers "no TLS" and the session runs.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { closedPort } from '../fixtures/free-port.js';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { clientEnv, run } from '../fixtures/run.js';
import type { TargetInfo } from '../../broker/api.js';
import { connectionStrings } from '../../broker/connection-strings.js';

const JAR = '/usr/share/java/postgresql.jar';
const PROBE = join(process.cwd(), 'test', 'fixtures', 'JdbcProbe.java');
let cluster: PgCluster;
let tb: TestBroker;

before(async () => {
  cluster = await startPgCluster();
  const down = await closedPort();
  tb = await startTestBroker(
    `version: "2"
services:
  app:
    connector: pg
    listenOn: tcp://127.0.0.1:0
    credentials: { host: 127.0.0.1, port: ${cluster.port}, username: scram_user, password: { from: env, get: PW }, sslmode: disable }
  down:
    connector: pg
    listenOn: tcp://127.0.0.1:0
    credentials: { host: 127.0.0.1, port: ${down}, username: scram_user, password: { from: env, get: PW }, sslmode: disable }
`,
    { env: { PW: cluster.users.scram.password } },
  );
});
after(async () => {
  await tb?.stop();
  await cluster?.stop();
});

function probe(service: string, url?: string) {
  const { port } = tb.tcp(service);
  return run('java', ['-cp', JAR, PROBE, url ?? `jdbc:postgresql://127.0.0.1:${port}/app?user=dbeaver&password=ignored`], { env: clientEnv(), timeoutMs: 120_000 });
}

test('the JDBC URL the app copies (no user, no password) works unchanged in pgjdbc', async () => {
  const { port } = tb.tcp('app');
  // The fields connectionStrings reads for a pg target, as listTargets reports them.
  const target = { name: 'app', connector: 'pg', status: { state: 'listening', address: `tcp://127.0.0.1:${port}` }, database: 'app' } as unknown as TargetInfo;
  const url = connectionStrings(target).find((s) => s.id === 'jdbc')?.value;
  assert.equal(url, `jdbc:postgresql://127.0.0.1:${port}/app`);
  const r = await probe('app', url);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^user=scram_user app=PostgreSQL JDBC Driver$/m);
});

test('pgjdbc with default settings queries, prepares and reads metadata as the configured user', async () => {
  const r = await probe('app');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^user=scram_user app=PostgreSQL JDBC Driver$/m);
  assert.match(r.stdout, /^prepared-sum=110$/m);
  assert.match(r.stdout, /^metadata-ok tables=\d+$/m);
});

test('pgjdbc gets a clear error with SQLSTATE 08001 when the target is down', async () => {
  const r = await probe('down');
  assert.equal(r.code, 3, r.stdout + r.stderr);
  // Over TCP the client gets the catalog message and a reference, not the target's address.
  assert.match(r.stdout, /error sqlstate=08001 message=.*the target could not be reached \(reference [\w-]+; the details are in the broker's log\)/);
  assert.ok(!(r.stdout + r.stderr + tb.output()).includes(cluster.users.scram.password));
});
