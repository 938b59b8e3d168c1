// The BrokerApi implementation over a real broker (no database needed: nothing connects):
// targets with configured and actual addresses, user start/stop that survives reloads and
// is remembered, credential expiries and events from the audit feed, audit queries, and
// identity sessions when there are some (an empty list when there are none).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { BrokerEvent, IdentitySessions } from '../../broker/api.js';
import { createBrokerApi, readStoppedTargets, sessionOf } from '../../broker/api-service.js';
import type { BrokerConfig } from '../../broker/config/types.js';
import { createMemoryAudit } from '../../broker/audit/memory-audit.js';
import { createBroker } from '../../broker/broker.js';
import { loadConfig } from '../../broker/config/load.js';
import { builtinConnectors, connectorSpecs } from '../../broker/connectors/registry.js';
import { createProviderRegistry, defaultProviders } from '../../broker/credentials/registry.js';
import { createResolver } from '../../broker/credentials/resolver.js';
import { silentLogger } from '../../broker/log.js';
import { execFileSync } from 'node:child_process';
import { formatStatus } from '../../broker/control/cli-commands.js';
import { SSH_HOST_KEY_FILE } from '../../broker/ssh/host-key.js';
import { configYaml } from '../fixtures/yaml.js';

const dir = mkdtempSync(join(tmpdir(), 'sd-api-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const yaml = (names: string[]) =>
  configYaml(Object.fromEntries(names.map((n) => [n, { connector: 'pg', credentials: { host: '127.0.0.1', port: 1, username: 'u', password: { from: 'env', get: 'PW' } } }])));

async function setup(names: string[] | string, opts: { identities?: IdentitySessions; stopped?: string[] } = {}) {
  const configPath = join(dir, `c${Math.random().toString(36).slice(2)}.yml`);
  const stateFile = `${configPath}.state.json`;
  writeFileSync(configPath, typeof names === 'string' ? names : yaml(names));
  const audit = createMemoryAudit();
  const registry = createProviderRegistry(defaultProviders({ env: {} }));
  const connectors = builtinConnectors();
  const parse = { connectors: connectorSpecs(connectors), providers: registry.names() };
  const broker = createBroker({ logger: silentLogger, audit, resolver: createResolver({ registry, audit, logger: silentLogger }), connectors, stopped: opts.stopped, stateDir: dir });
  const reload = async () => broker.apply(await loadConfig(configPath, parse));
  await reload();
  const api = createBrokerApi({ broker, audit, configPath, parse, reload, stateFile, identities: opts.identities });
  after(async () => {
    api.close();
    await broker.stop({ drainMs: 0 });
  });
  return { api, broker, audit, configPath, stateFile, reload };
}

test('targets: configured listenOn, actual address, start/stop with events, remembered and kept across reloads', async () => {
  const { api, stateFile, reload, configPath } = await setup(['a', 'b']);
  const events: BrokerEvent[] = [];
  const off = api.subscribe((e) => events.push(e));
  const [a, b] = await api.listTargets();
  assert.equal(a!.listenOn, 'tcp://127.0.0.1:0');
  assert.equal(a!.status.state, 'listening');
  assert.match(a!.status.state === 'listening' ? a!.status.address : '', /^tcp:\/\/127\.0\.0\.1:\d+$/);
  assert.notEqual(a!.status.state === 'listening' && a!.status.address, 'tcp://127.0.0.1:0');
  assert.equal(b!.connections, 0);

  const stopped = await api.stopTarget('a');
  assert.deepEqual(stopped.status, { state: 'stopped' });
  assert.deepEqual(readStoppedTargets(stateFile), ['a']);
  assert.deepEqual(events.filter((e) => e.type !== 'audit'), [{ type: 'target.stopped', name: 'a' }, { type: 'target.health', name: 'a', health: { type: 'stopped' } }]);
  assert.ok(events.some((e) => e.type === 'audit' && e.record.type === 'service.stopped'));

  // A reload (config edited) leaves a user-stopped target stopped.
  writeFileSync(configPath, yaml(['a', 'b', 'c']));
  await reload();
  assert.deepEqual((await api.listTargets()).map((t) => [t.name, t.status.state]), [['a', 'stopped'], ['b', 'listening'], ['c', 'listening']]);

  const started = await api.startTarget('a');
  assert.equal(started.status.state, 'listening');
  assert.deepEqual(readStoppedTargets(stateFile), []);
  assert.ok(events.some((e) => e.type === 'target.started' && e.name === 'a'));
  off();
  await assert.rejects(api.startTarget('nope'), /no target named 'nope'/);
});

test('a broker created with remembered stopped targets does not start them', async () => {
  const { api } = await setup(['a', 'b'], { stopped: ['b'] });
  assert.deepEqual((await api.listTargets()).map((t) => [t.name, t.status.state]), [['a', 'listening'], ['b', 'stopped']]);
});

test('a target that fails to listen reports an error with the reason; start retries it', async () => {
  const { createServer } = await import('node:net');
  const blocker = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  const port = (blocker.address() as { port: number }).port;
  const { api } = await setup(yaml(['x']).replace('tcp://127.0.0.1:0', `tcp://127.0.0.1:${port}`));
  const [x] = await api.listTargets();
  assert.equal(x!.status.state, 'error');
  assert.match(x!.status.state === 'error' ? x!.status.reason : '', /EADDRINUSE|in use/);
  assert.equal(x!.listenOn, `tcp://127.0.0.1:${port}`);
  await new Promise((r) => blocker.close(r));
  const retried = await api.startTarget('x');
  assert.deepEqual(retried.status, { state: 'listening', address: `tcp://127.0.0.1:${port}` });
  assert.deepEqual((await api.stopTarget('x')).status, { state: 'stopped' });
});

test('credential expiry: the earliest among the values the service last fetched; rotation and expiry records become events', async () => {
  const { api, audit } = await setup(['a', 'b']);
  const events: BrokerEvent[] = [];
  api.subscribe((e) => events.push(e));
  audit.record({ type: 'credential.fetched', service: 'a', provider: 'aws-sts', id: 'role', cached: false, expiresAt: '2030-01-01T01:00:00.000Z' });
  audit.record({ type: 'credential.fetched', service: 'a', provider: 'vault', id: 'db', cached: false, expiresAt: '2030-01-01T00:30:00.000Z' });
  audit.record({ type: 'credential.fetched', service: 'a', provider: 'env', id: 'PW', cached: false });
  audit.record({ type: 'credential.rotated', service: 'a', provider: 'file', id: '/run/pw' });
  audit.record({ type: 'credential.expiring', service: 'a', provider: 'vault', id: 'db', expiresAt: '2030-01-01T00:30:00.000Z' });
  const targets = await api.listTargets();
  assert.equal(targets[0]!.credentialExpiresAt, '2030-01-01T00:30:00.000Z');
  assert.equal(targets[1]!.credentialExpiresAt, undefined);
  // A later fetch of the same id replaces its expiry.
  audit.record({ type: 'credential.fetched', service: 'a', provider: 'vault', id: 'db', cached: false, expiresAt: '2030-01-01T02:00:00.000Z' });
  assert.equal((await api.listTargets())[0]!.credentialExpiresAt, '2030-01-01T01:00:00.000Z');
  const typed = events.filter((e) => e.type !== 'audit');
  assert.deepEqual(typed.slice(0, 5), [
    { type: 'credential.fetched', name: 'a', provider: 'aws-sts', id: 'role', expiresAt: '2030-01-01T01:00:00.000Z' },
    { type: 'credential.fetched', name: 'a', provider: 'vault', id: 'db', expiresAt: '2030-01-01T00:30:00.000Z' },
    { type: 'credential.fetched', name: 'a', provider: 'env', id: 'PW' },
    { type: 'credential.rotated', name: 'a', provider: 'file', id: '/run/pw' },
    { type: 'credential.expiring', name: 'a', provider: 'vault', id: 'db', expiresAt: '2030-01-01T00:30:00.000Z' },
  ]);
  assert.equal(events.filter((e) => e.type === 'audit').length, 6, 'every record is also sent as it is');
});

test('recentAudit: newest first, filtered by service and outcome, limited', async () => {
  const { api, audit } = await setup(['a', 'b']);
  audit.record({ type: 'connection.opened', service: 'a', connectionId: '1', client: { transport: 'tcp', address: '127.0.0.1', port: 1 } });
  audit.record({ type: 'connection.failed', service: 'a', connectionId: '1', code: 'target_unreachable', reason: 'refused' });
  audit.record({ type: 'connection.opened', service: 'b', connectionId: '2', client: { transport: 'tcp', address: '127.0.0.1', port: 2 } });
  const all = await api.recentAudit();
  assert.deepEqual(all.slice(0, 3).map((r) => r.type), ['connection.opened', 'connection.failed', 'connection.opened']);
  assert.deepEqual((await api.recentAudit({ service: 'a' })).map((r) => r.type).slice(0, 2), ['connection.failed', 'connection.opened']);
  assert.deepEqual((await api.recentAudit({ outcome: 'failed' })).map((r) => r.type), ['connection.failed']);
  assert.ok((await api.recentAudit({ outcome: 'ok' })).every((r) => r.type !== 'connection.failed'));
  assert.equal((await api.recentAudit({ limit: 1 })).length, 1);
});

test('identity sessions: none without an identity layer; listed, logged in/out and their events passed on with one', async () => {
  const plain = await setup(['a']);
  assert.deepEqual(await plain.api.listSessions(), []);
  await assert.rejects(plain.api.login('corp'), /no identity named 'corp'/);

  const listeners = new Set<(e: BrokerEvent) => void>();
  const calls: string[] = [];
  const identities: IdentitySessions = {
    list: () => [{ name: 'corp', issuer: 'https://idp.example', state: 'active', expiresAt: '2030-01-01T00:00:00.000Z' }],
    login: async (name) => (calls.push(`login ${name}`), { flow: 'device_code', verificationUri: 'https://idp.example/device', userCode: 'ABCD-EFGH' }),
    logout: async (name) => void calls.push(`logout ${name}`),
    subscribe: (fn) => (listeners.add(fn), () => listeners.delete(fn)),
  };
  const { api } = await setup(['a'], { identities });
  const events: BrokerEvent[] = [];
  api.subscribe((e) => events.push(e));
  assert.deepEqual((await api.listSessions()).map((s) => s.name), ['corp']);
  assert.deepEqual(await api.login('corp'), { flow: 'device_code', verificationUri: 'https://idp.example/device', userCode: 'ABCD-EFGH' });
  await api.logout('corp');
  await assert.rejects(api.logout('other'), /no identity named 'other'/);
  assert.deepEqual(calls, ['login corp', 'logout corp']);
  for (const fn of listeners) fn({ type: 'session.expiring', identity: 'corp', expiresAt: '2030-01-01T00:00:00.000Z' });
  assert.deepEqual(events, [{ type: 'session.expiring', identity: 'corp', expiresAt: '2030-01-01T00:00:00.000Z' }]);
  api.close();
  assert.equal(listeners.size, 0, 'close() unsubscribes from the identity layer');
});

test('saveTarget writes the config, reloads, and returns the new target', async () => {
  const { api, configPath } = await setup(['a']);
  const t = await api.saveTarget({ name: 'new-db', connector: 'pg', listenOn: 'tcp://127.0.0.1:0', credentials: { host: { literal: '127.0.0.1' }, username: { literal: 'u' }, password: { from: 'env', get: 'NEW_PW' } } });
  assert.equal(t.name, 'new-db');
  assert.equal(t.status.state, 'listening');
  assert.match(readFileSync(configPath, 'utf8'), /new-db:\n    connector: pg/);
  await assert.rejects(api.saveTarget({ name: 'x', connector: 'nope', listenOn: 'tcp://127.0.0.1:0', credentials: {} }), /connector/);
});

test('a target names the OIDC session its credentials depend on (through an aws or vault entry)', () => {
  const spec = (provider: string, id: string) => ({ provider, id, line: 1 });
  const svc = (name: string, credentials: Record<string, ReturnType<typeof spec>>) => ({ name, connector: 'pg', listenOn: { type: 'tcp', host: '127.0.0.1', port: 0 }, allowRemote: false, credentials, config: {}, line: 1 });
  const config = {
    version: '2',
    services: [
      svc('rds', { host: spec('literal', 'db'), password: spec('aws-rds-iam', 'prod:app@db:5432') }),
      svc('vaulted', { password: spec('vault', 'corp-vault:secret/db#password') }),
      svc('plain', { password: spec('env', 'PW') }),
      svc('static-aws', { password: spec('aws-secrets-manager', 'chain:db-secret') }),
    ],
    identities: [
      { type: 'oidc', name: 'corp' },
      { type: 'aws', name: 'prod', identity: 'corp' },
      { type: 'aws', name: 'chain' },
      { type: 'vault', name: 'corp-vault', auth: { method: 'jwt', mount: 'jwt', role: 'r', identity: 'corp' } },
    ],
  } as unknown as BrokerConfig;
  assert.equal(sessionOf(config, 'rds'), 'corp');
  assert.equal(sessionOf(config, 'vaulted'), 'corp');
  assert.equal(sessionOf(config, 'plain'), undefined);
  assert.equal(sessionOf(config, 'static-aws'), undefined, 'the default AWS chain needs no login');
  assert.equal(sessionOf(config, 'missing'), undefined);
});

test('ssh targets show the broker host key fingerprint that ssh-keygen reports for the key file; others none', async () => {
  const keyDir = join(dir, `hk${Math.random().toString(36).slice(2)}`);
  const config = `version: "2"
services:
  bastion:
    connector: ssh
    listenOn: tcp://127.0.0.1:0
    credentials:
      address: 127.0.0.1:1
      user: u
      password: { from: env, get: PW }
      hostKey: SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU
    config:
      hostKeyDir: ${keyDir}
${yaml(['db']).split('\n').slice(2).join('\n')}`;
  const { api } = await setup(config);
  const targets = await api.listTargets();
  const ssh = targets.find((t) => t.name === 'bastion')!;
  const keygen = execFileSync('ssh-keygen', ['-lf', join(keyDir, SSH_HOST_KEY_FILE)], { encoding: 'utf8' });
  assert.match(ssh.hostKeyFingerprint ?? '', /^SHA256:[A-Za-z0-9+/]{43}$/);
  assert.ok(keygen.includes(ssh.hostKeyFingerprint!), `ssh-keygen says ${keygen}`);
  assert.equal(targets.find((t) => t.name === 'db')!.hostKeyFingerprint, undefined);
  assert.match(formatStatus(targets, [], new Date()), new RegExp(`bastion: broker host key ${ssh.hostKeyFingerprint!.replace(/[+/]/g, '\\$&')}`));
});

test('broker info: an instance id per broker run, and a rejected reload stays visible until a reload succeeds', async () => {
  const { api, audit } = await setup(['a']);
  const events: BrokerEvent[] = [];
  api.subscribe((e) => events.push(e));
  const info = await api.brokerInfo();
  assert.match(info.instanceId, /^[0-9a-f-]{36}$/);
  assert.ok(Date.parse(info.startedAt) <= Date.now());
  assert.equal(info.configRejected, undefined);
  audit.record({ type: 'config.rejected', source: 'secretless.yml', reason: "services.a.conector: unknown key 'conector'" });
  const rejected = await api.brokerInfo();
  assert.equal(rejected.configRejected?.reason, "services.a.conector: unknown key 'conector'");
  assert.equal(rejected.instanceId, info.instanceId);
  assert.ok(events.some((e) => e.type === 'config.rejected' && e.reason.includes('conector')));
  audit.record({ type: 'config.loaded', source: 'secretless.yml', services: 1 });
  assert.equal((await api.brokerInfo()).configRejected, undefined);
  assert.ok(events.some((e) => e.type === 'config.applied'));
});
