// The renderer's pure parts: the audit feed grouped per connection, the target order
// (pins, recent use, health) and the broker banner's states.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TargetInfo } from '../../broker/api.js';
import type { AuditRecord } from '../../broker/audit/types.js';
import { describe, groupAudit, recentConnections } from '../../renderer/src/audit-groups.js';
import { bannerReducer, INITIAL_BANNER } from '../../renderer/src/broker-banner.js';
import { lastUse, loadPrefs, orderTargets } from '../../renderer/src/target-order.js';

const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 12, 0, s)).toISOString();
const client = { transport: 'tcp' as const, address: '127.0.0.1', port: 50000, pid: 4242 };

// Newest first, as the broker returns them: two connections to app-db interleaved, one failed.
const records: AuditRecord[] = [
  { type: 'connection.closed', service: 'app-db', connectionId: 'c1', bytesFromClient: 100, bytesToClient: 2048, durationMs: 1500, time: t(9) },
  { type: 'connection.closed', service: 'app-db', connectionId: 'c2', bytesFromClient: 10, bytesToClient: 0, durationMs: 20, time: t(8) },
  { type: 'connection.failed', service: 'app-db', connectionId: 'c2', code: 'target_rejected_credentials', reason: 'password authentication failed for user "app" (28P01)', time: t(7) },
  { type: 'identity.login', identity: 'corp', flow: 'device_code', time: t(6) },
  { type: 'connection.opened', service: 'app-db', connectionId: 'c2', client: { ...client, port: 50001 }, time: t(5) },
  { type: 'connection.authenticated', service: 'app-db', connectionId: 'c1', target: '127.0.0.1:5432', tls: false, authMethod: 'SCRAM-SHA-256', time: t(4) },
  { type: 'credential.fetched', service: 'app-db', connectionId: 'c1', provider: 'keychain', id: 'secretless-desktop/app-db#password', cached: false, time: t(3) },
  { type: 'connection.opened', service: 'app-db', connectionId: 'c1', client, time: t(2) },
  { type: 'config.rejected', source: '/x/secretless.yml', reason: 'services.app-db.connector: unknown connector', time: t(1) },
];

test('one row per connection, newest first, with client, duration, bytes and outcome; other events one row each', () => {
  const rows = groupAudit(records);
  assert.deepEqual(
    rows.map((r) => (r.type === 'connection' ? `${r.key}:${r.outcome}` : r.record.type)),
    ['identity.login', 'c-c2:failed', 'c-c1:ok', 'config.rejected'], // a connection sorts by when it opened
  );
  const c1 = rows.find((r) => r.key === 'c-c1');
  assert.ok(c1?.type === 'connection');
  assert.equal(c1.durationMs, 1500);
  assert.equal(c1.bytesToClient, 2048);
  assert.equal(c1.client?.pid, 4242);
  assert.deepEqual(c1.records.map((r) => r.type), ['connection.opened', 'credential.fetched', 'connection.authenticated', 'connection.closed']);
  const c2 = rows[1]!;
  assert.ok(c2.type === 'connection');
  assert.equal(c2.code, 'target_rejected_credentials');
  assert.match(c2.reason!, /28P01/);
  assert.deepEqual(recentConnections(rows, 'app-db', 1).map((r) => r.key), ['c-c2']);
});

test('a Test connection login is its own row: no client, its latency, its outcome', () => {
  const rows = groupAudit([
    { type: 'target.test.failed', service: 'app-db', connectionId: 't2', code: 'target_unreachable', reason: 'connection refused', time: t(3) },
    { type: 'credential.fetched', service: 'app-db', connectionId: 't2', provider: 'keychain', id: 'x', cached: true, time: t(2) },
    { type: 'target.tested', service: 'app-db', connectionId: 't1', target: '127.0.0.1:5432', authMethod: 'SCRAM-SHA-256', latencyMs: 12, time: t(1) },
  ]);
  assert.deepEqual(
    rows.map((r) => r.type === 'connection' && [r.test, r.outcome, r.durationMs ?? null, r.code ?? null]),
    [
      [true, 'failed', null, 'target_unreachable'],
      [true, 'ok', 12, null],
    ],
  );
});

test('identity and config events read as sentences', () => {
  assert.equal(describe(records[3]!), 'logged in (device code)');
  assert.match(describe({ type: 'identity.login', identity: 'ci', flow: 'github-actions', expiresAt: t(300), time: t(0) }), /^github-actions token read, valid until /);
  assert.match(describe(records.at(-1)!), /^config change rejected \(the last good config stays in use\): services\.app-db\.connector/);
  assert.match(describe(records[0]!), /^closed after 1\.5 s: 100 B sent, 2\.0 kB received$/);
  const request = { type: 'http.request', service: 'api', connectionId: 'c1', method: 'GET', host: 'api.example.com', path: '/v1/users', status: 200, bytesIn: 0, bytesOut: 2048, durationMs: 12, outcome: 'ok', time: t(0) } as const;
  assert.equal(describe(request), 'GET /v1/users → 200, 0 B up, 2.0 kB down, 12 ms');
  assert.equal(describe({ ...request, status: 401, outcome: 'target_rejected_credentials' }), 'GET /v1/users → 401 (target_rejected_credentials), 0 B up, 2.0 kB down, 12 ms');
});

const target = (name: string, health: TargetInfo['health']): TargetInfo => ({ name, connector: 'pg', listenOn: 'tcp://127.0.0.1:0', status: { state: 'listening', address: 'tcp://127.0.0.1:1' }, connections: 0, health });
const rejected = { type: 'credentials-rejected' as const, at: t(0), code: 'target_rejected_credentials' as const, reason: 'password authentication failed for user "app"' };

test('order: pinned first, then by name, recent use or health (worst first)', () => {
  const targets = [target('b', { type: 'ok', at: t(1) }), target('a', { type: 'stopped' }), target('c', rejected), target('d', { type: 'listening' })];
  const use = lastUse([{ type: 'connection.opened', service: 'd', connectionId: 'x', client, time: t(5) }, { type: 'connection.opened', service: 'b', connectionId: 'y', client, time: t(1) }]);
  const names = (sort: 'name' | 'recent' | 'health', pinned: string[] = []) => orderTargets(targets, { sort, pinned: new Set(pinned), lastUse: use }).map((x) => x.name);
  assert.deepEqual(names('name'), ['a', 'b', 'c', 'd']);
  assert.deepEqual(names('recent'), ['d', 'b', 'a', 'c']);
  assert.deepEqual(names('health'), ['c', 'd', 'b', 'a']);
  assert.deepEqual(names('name', ['d']), ['d', 'a', 'b', 'c']);
});

test('prefs: a corrupt stored value starts without pins', () => {
  assert.deepEqual(loadPrefs({ getItem: () => '{oops' }), { sort: 'name', pinned: new Set() });
  const store = new Map([['secretless-desktop-pinned', '["x"]'], ['secretless-desktop-sort', 'health']]);
  assert.deepEqual(loadPrefs({ getItem: (k) => store.get(k) ?? null }), { sort: 'health', pinned: new Set(['x']) });
});

test('banner: reconnecting, then restarted; a rejected config stays until a load succeeds', () => {
  let s = bannerReducer(INITIAL_BANNER, { type: 'stream-lost' });
  assert.equal(s.link.type, 'reconnecting');
  s = bannerReducer(s, { type: 'stream-back', restarted: true, at: t(0) });
  assert.equal(s.link.type, 'restarted');
  s = bannerReducer(s, { type: 'audit', record: records.at(-1)! });
  assert.match(s.config!, /unknown connector/);
  s = bannerReducer(s, { type: 'stream-lost' });
  assert.match(s.config!, /unknown connector/, 'still shown while reconnecting');
  s = bannerReducer(s, { type: 'history', records: [{ type: 'config.loaded', source: 'x', services: 1, time: t(2) }, ...records] });
  assert.equal(s.config, undefined);
  s = bannerReducer(s, { type: 'shell', state: 'config-error', reason: 'line 3: bad indentation' });
  assert.equal(s.config, 'line 3: bad indentation');
  s = bannerReducer(bannerReducer(s, { type: 'shell', state: 'restarting', reason: 'the broker exited (code 1)' }), { type: 'shell', state: 'running' });
  assert.equal(s.link.type, 'restarted');
  assert.equal(s.config, undefined, 'running again: the config loaded');
});
