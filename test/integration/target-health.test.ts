// Issue 12 against real servers: target health from what happened (a wrong password is
// red with the 28P01 reason, a stopped database is "unreachable", the next success turns
// it green again), testTarget performing the real login through the connector, and the
// copied connection strings pasted unchanged into real psql, mariadb and ssh.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { BrokerEvent, TargetInfo } from '../../broker/api.js';
import { createBrokerApi, type BrokerApiService } from '../../broker/api-service.js';
import { createMemoryAudit } from '../../broker/audit/memory-audit.js';
import { createBroker, type Broker } from '../../broker/broker.js';
import { loadConfig } from '../../broker/config/load.js';
import { connectionStrings } from '../../broker/connection-strings.js';
import { builtinConnectors, connectorSpecs } from '../../broker/connectors/registry.js';
import { createProviderRegistry, defaultProviders } from '../../broker/credentials/registry.js';
import { createResolver } from '../../broker/credentials/resolver.js';
import { silentLogger } from '../../broker/log.js';
import { startMariaDb, type MariaDb } from '../fixtures/mariadb-cluster.js';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { clientEnv, run } from '../fixtures/run.js';
import { makeKey, startSshd, type KeyFiles, type Sshd } from '../fixtures/sshd.js';

let pg: PgCluster;
let maria: MariaDb;
let sshd: Sshd;
let dir: string;
let broker: Broker;
let api: BrokerApiService;
let clientKey: KeyFiles;
const events: BrokerEvent[] = [];
const env: Record<string, string> = {};

before(async () => {
  [pg, maria, sshd] = await Promise.all([startPgCluster(), startMariaDb(), startSshd()]);
  dir = mkdtempSync(join(tmpdir(), 'sl-health-'));
  clientKey = makeKey(dir, 'client', 'ed25519');
  const upstreamKey = makeKey(dir, 'upstream', 'ed25519');
  sshd.authorize(upstreamKey.publicLine);
  env.PG_PW = pg.users.scram.password;
  env.MARIA_PW = maria.users.native.password;
  const configPath = join(dir, 'secretless.yml');
  const dbService = (name: string, connector: string, port: number, user: string, pwVar: string) => `  ${name}:
    connector: ${connector}
    listenOn: tcp://127.0.0.1:0
    credentials:
      host: 127.0.0.1
      port: ${port}
      username: ${user}
      password: { from: env, get: ${pwVar} }
      sslmode: disable
    config:
      database: app
`;
  const sshService = (name: string, extra = '') => `  ${name}:
    connector: ssh
    listenOn: tcp://127.0.0.1:0
    credentials:
      address: 127.0.0.1:${sshd.port}
      user: ${sshd.user}
      privateKey: { from: file, get: ${upstreamKey.path} }
      hostKey: ${JSON.stringify(sshd.hostKeyLine)}
    config:
      authorizedKeys: ${clientKey.path}.pub
      hostKeyDir: ${join(dir, 'state')}
${extra}`;
  writeFileSync(
    configPath,
    `version: "2"
services:
${dbService('app-db', 'pg', pg.port, pg.users.scram.name, 'PG_PW')}${dbService('shop', 'mysql', maria.port, maria.users.native.name, 'MARIA_PW')}${sshService('box')}${sshService('devbox', '      hostAlias: devbox\n')}`,
  );
  const audit = createMemoryAudit();
  const registry = createProviderRegistry(defaultProviders({ env }));
  const connectors = builtinConnectors();
  const parse = { connectors: connectorSpecs(connectors), providers: registry.names() };
  broker = createBroker({ logger: silentLogger, audit, resolver: createResolver({ registry, audit, logger: silentLogger }), connectors, drainMs: 500, stateDir: join(dir, 'state') });
  const reload = async () => broker.apply(await loadConfig(configPath, parse));
  await reload();
  api = createBrokerApi({ broker, audit, configPath, parse, reload, stateDir: join(dir, 'state') });
  api.subscribe((e) => events.push(e));
});

after(async () => {
  api?.close();
  await broker?.stop({ drainMs: 0 });
  await Promise.all([pg?.stop(), maria?.stop(), sshd?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

const targetNamed = async (name: string): Promise<TargetInfo> => (await api.listTargets()).find((t) => t.name === name)!;
const copied = async (name: string, id: string): Promise<string> => {
  const s = connectionStrings(await targetNamed(name)).find((c) => c.id === id);
  assert.ok(s, `${name} offers a ${id} string`);
  return s.value;
};
/** Runs a copied command line unchanged, with `extra` appended (the query to run). */
const shell = (line: string, extra: string, runEnv: NodeJS.ProcessEnv = clientEnv()) => run('sh', ['-c', `${line} ${extra}`], { env: runEnv, timeoutMs: 30_000 });

test('a listening target with no login yet is "listening"; test connection logs in for real and turns it ok', async () => {
  assert.deepEqual((await targetNamed('app-db')).health, { type: 'listening' });
  const r = await api.testTarget('app-db');
  assert.equal(r.type, 'ok', JSON.stringify(r));
  assert.ok(r.type === 'ok' && r.latencyMs >= 0 && r.target === `127.0.0.1:${pg.port}`);
  const h = (await targetNamed('app-db')).health;
  assert.equal(h.type, 'ok');
  assert.ok(h.type === 'ok' && h.latencyMs !== undefined);
  assert.ok(events.some((e) => e.type === 'target.health' && e.name === 'app-db' && e.health.type === 'ok'));
  for (const name of ['shop', 'box']) {
    const t = await api.testTarget(name);
    assert.equal(t.type, 'ok', `${name}: ${JSON.stringify(t)}`);
  }
});

test('copied pg strings work when pasted: psql command, URI and pg_service entry open the default database', async () => {
  const cmd = await copied('app-db', 'psql');
  const r = await shell(cmd, `-X -Atc 'select current_database(), current_user'`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), `app|${pg.users.scram.name}`);

  const uri = await copied('app-db', 'uri');
  const viaUri = await run('psql', ['-X', '-Atc', 'select current_database()', uri], { env: clientEnv() });
  assert.equal(viaUri.stdout.trim(), 'app', viaUri.stderr);

  const serviceFile = join(dir, 'pg_service.conf');
  writeFileSync(serviceFile, await copied('app-db', 'pg_service'));
  const viaService = await run('psql', ['-X', '-Atc', 'select current_database()', 'service=app-db'], { env: clientEnv({ PGSERVICEFILE: serviceFile }) });
  assert.equal(viaService.stdout.trim(), 'app', viaService.stderr);
  assert.match(await copied('app-db', 'jdbc'), /^jdbc:postgresql:\/\/127\.0\.0\.1:\d+\/app$/);
});

test('copied mariadb and mysql commands work when pasted', async () => {
  for (const id of ['mariadb', 'mysql']) {
    const cmd = await copied('shop', id);
    const r = await shell(cmd, `-N -e 'select database(), current_user()'`);
    assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
    assert.match(r.stdout.trim(), new RegExp(`^app\\t${maria.users.native.name}@`));
  }
});

test('the copied ssh command with the copied known_hosts line logs in with strict host key checking', async () => {
  for (const name of ['box', 'devbox']) {
    const knownHosts = join(dir, `known_hosts-${name}`);
    writeFileSync(knownHosts, (await copied(name, 'known_hosts')) + '\n');
    const cmd = await copied(name, 'ssh');
    // Options after the host are still options to OpenSSH; they only point it at the test's files.
    const opts = `-F /dev/null -o UserKnownHostsFile=${knownHosts} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes -i ${clientKey.path} echo logged-in`;
    const r = await shell(cmd, opts, { PATH: process.env.PATH, HOME: dir, LANG: 'C' });
    assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
    assert.equal(r.stdout.trim(), 'logged-in');
  }
  assert.match(await copied('devbox', 'ssh'), /^ssh -o HostKeyAlias=devbox -p \d+ 127\.0\.0\.1$/);
});

test('wrong password: a client is refused with 28P01, the target turns "credentials rejected" with that reason, testTarget says so; fixed: ok again', async () => {
  const good = env.PG_PW!;
  env.PG_PW = 'not-the-password';
  try {
    const r = await shell(await copied('app-db', 'psql'), `-X -Atc 'select 1'`, clientEnv({ PGSSLMODE: 'disable' }));
    assert.notEqual(r.code, 0);
    // A TCP client gets the catalog message and a reference; the health has the details.
    assert.match(r.stderr, /the target rejected the broker's configured credentials \(reference /);
    const h = (await targetNamed('app-db')).health;
    assert.equal(h.type, 'credentials-rejected');
    assert.ok(h.type === 'credentials-rejected' && h.code === 'target_rejected_credentials' && /password authentication failed/.test(h.reason) && h.lastOkAt);
    assert.equal((await targetNamed('app-db')).status.state, 'listening', 'the listener itself is fine');
    const t = await api.testTarget('app-db');
    assert.equal(t.type, 'failed');
    assert.ok(t.type === 'failed' && t.code === 'target_rejected_credentials');
  } finally {
    env.PG_PW = good;
  }
  assert.equal((await api.testTarget('app-db')).type, 'ok');
  assert.equal((await targetNamed('app-db')).health.type, 'ok');
  const out = JSON.stringify(events);
  assert.ok(!out.includes('not-the-password') && !out.includes(good), 'no password in events');
});

test('database down: testTarget and the health say "unreachable"', async () => {
  await maria.kill();
  const t = await api.testTarget('shop');
  assert.equal(t.type, 'failed');
  assert.ok(t.type === 'failed' && t.code === 'target_unreachable', JSON.stringify(t));
  const h = (await targetNamed('shop')).health;
  assert.equal(h.type, 'unreachable');
  assert.ok(events.some((e) => e.type === 'target.health' && e.name === 'shop' && e.health.type === 'unreachable'));
});
