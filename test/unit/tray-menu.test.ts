// Tray state, tooltip and menu as plain data, and the broker restart policy.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IdentitySessionInfo, TargetInfo } from '../../broker/api.js';
import { buildTrayMenu, shouldRestartBroker, trayState, trayTooltip, type TrayMenuItem } from '../../electron/tray.js';

const now = Date.parse('2026-01-01T12:00:00Z');
const target = (name: string, status: TargetInfo['status'], extra: Partial<TargetInfo> = {}): TargetInfo => ({
  name,
  connector: 'pg',
  listenOn: 'tcp://127.0.0.1:0',
  health: { type: 'listening' },
  status,
  connections: 0,
  ...extra,
});
const running = (name: string, port: number, extra: Partial<TargetInfo> = {}) => target(name, { state: 'listening', address: `tcp://127.0.0.1:${port}` }, extra);
const base = { sessions: [] as IdentitySessionInfo[], brokerUp: true, now, startAtLogin: false };

test('tray state: idle with nothing running, active with a listener, attention when something needs the user', () => {
  assert.equal(trayState({ ...base, targets: [] }), 'idle');
  assert.equal(trayState({ ...base, targets: [target('a', { state: 'stopped' })] }), 'idle');
  assert.equal(trayState({ ...base, targets: [running('a', 5433), target('b', { state: 'stopped' })] }), 'active');
  assert.equal(trayState({ ...base, targets: [running('a', 5433), target('b', { state: 'error', reason: 'port in use' })] }), 'attention');
  assert.equal(trayState({ ...base, targets: [running('a', 5433, { credentialExpiresAt: '2026-01-01T11:59:00Z' })] }), 'attention');
  assert.equal(trayState({ ...base, targets: [running('a', 5433, { credentialExpiresAt: '2026-01-01T12:30:00Z' })] }), 'active');
  assert.equal(trayState({ ...base, targets: [], sessions: [{ name: 'corp', issuer: 'https://idp', state: 'login-needed' }] }), 'attention');
  assert.equal(trayState({ ...base, targets: [running('a', 5433)], brokerUp: false }), 'attention');
});

test('tooltip counts running and failed targets', () => {
  assert.equal(trayTooltip({ ...base, targets: [running('a', 1), target('b', { state: 'stopped' }), target('c', { state: 'error', reason: 'x' })] }), 'Secretless Desktop: 1 of 3 running, 1 failing: c (failed)');
  assert.equal(trayTooltip({ ...base, targets: [], brokerUp: false }), 'Secretless Desktop: broker restarting');
});

test('menu: one submenu per target with a start/stop toggle and its connection strings, then window, login item, quit', () => {
  const menu = buildTrayMenu({ ...base, targets: [running('app-db', 15432, { connections: 2, database: 'app' }), target('reports', { state: 'stopped' })] });
  const labels = menu.map((i) => ('label' in i ? i.label : '---'));
  assert.deepEqual(labels, ['Secretless Desktop: 1 of 2 running', '---', 'app-db: 2 connections', 'reports: stopped', '---', 'Open window', 'Lock (every new connection asks)', 'Open logs', 'Start at login', '---', 'Quit']);
  const sub = (menu[2] as Extract<TrayMenuItem, { kind: 'submenu' }>).items;
  assert.deepEqual(sub[0], { kind: 'toggle', label: 'Running', checked: true, enabled: true, action: { type: 'stop', name: 'app-db' } });
  assert.deepEqual(
    sub.slice(1).map((i) => i.kind === 'action' && [i.label, i.action]),
    [
      ['Copy psql', { type: 'copy', text: 'psql postgresql://127.0.0.1:15432/app' }],
      ['Copy URI', { type: 'copy', text: 'postgresql://127.0.0.1:15432/app' }],
      ['Copy JDBC (DBeaver, DataGrip)', { type: 'copy', text: 'jdbc:postgresql://127.0.0.1:15432/app' }],
      ['Copy pg_service.conf entry', { type: 'copy', text: '[app-db]\nhost=127.0.0.1\nport=15432\ndbname=app\n' }],
      ['Copy host:port', { type: 'copy', text: '127.0.0.1:15432' }],
    ],
  );
  const stopped = (menu[3] as Extract<TrayMenuItem, { kind: 'submenu' }>).items;
  assert.deepEqual(stopped[0], { kind: 'toggle', label: 'Start', checked: false, enabled: true, action: { type: 'start', name: 'reports' } });
  assert.deepEqual(stopped[1], { kind: 'action', label: 'Copy connection string', enabled: false, action: { type: 'copy', text: '' } });
  assert.deepEqual(menu[8], { kind: 'toggle', label: 'Start at login', checked: false, enabled: true, action: { type: 'set-start-at-login', enabled: true } });
  assert.deepEqual(menu[10], { kind: 'action', label: 'Quit', enabled: true, action: { type: 'quit' } });
});

test('menu: a failed target shows its reason; no targets says so; toggles are disabled while the broker restarts', () => {
  const failed = buildTrayMenu({ ...base, targets: [target('a', { state: 'error', reason: 'address in use' })] });
  const items = (failed[2] as Extract<TrayMenuItem, { kind: 'submenu' }>).items;
  assert.deepEqual(items[0], { kind: 'label', label: 'Error: address in use' });
  assert.deepEqual(buildTrayMenu({ ...base, targets: [] })[2], { kind: 'label', label: 'No targets configured' });
  const down = buildTrayMenu({ ...base, brokerUp: false, targets: [running('a', 1)] });
  const toggle = (down[2] as Extract<TrayMenuItem, { kind: 'submenu' }>).items[0]!;
  assert.equal(toggle.kind === 'toggle' && toggle.enabled, false);
  const withLogin = buildTrayMenu({ ...base, startAtLogin: true, targets: [] });
  assert.deepEqual(withLogin.find((i) => 'label' in i && i.label === 'Start at login'), { kind: 'toggle', label: 'Start at login', checked: true, enabled: true, action: { type: 'set-start-at-login', enabled: false } });
});

test('menu: a unix-socket pg target offers psql with the socket directory', () => {
  const menu = buildTrayMenu({ ...base, targets: [target('sock', { state: 'listening', address: 'unix:///run/sd/.s.PGSQL.5432' })] });
  const items = (menu[2] as Extract<TrayMenuItem, { kind: 'submenu' }>).items;
  assert.deepEqual(items[1], { kind: 'action', label: 'Copy psql', enabled: true, action: { type: 'copy', text: 'psql -h /run/sd -p 5432' } });
});

test('broker restarts are allowed until 5 crashes within a minute', () => {
  assert.equal(shouldRestartBroker([], now), true);
  assert.equal(shouldRestartBroker([now - 1000, now - 2000, now - 3000, now - 4000], now), true);
  assert.equal(shouldRestartBroker([now - 1000, now - 2000, now - 3000, now - 4000, now - 5000], now), false);
  assert.equal(shouldRestartBroker([now - 61_000, now - 62_000, now - 63_000, now - 64_000, now - 5000], now), true);
});

test('the broker process gets the serve options the user gave, nothing Electron or the OS added', async () => {
  const { brokerArgs } = await import('../../electron/broker-args.js');
  assert.deepEqual(brokerArgs(['-f', '/home/me/s.yml', '--no-sandbox', '-psn_0_12345', '--watch', '--log-level=debug', '--config']), ['-f', '/home/me/s.yml', '--watch', '--log-level=debug']);
  assert.deepEqual(brokerArgs([]), []);
});

test('menu: mysql, ssh and ssh-agent targets offer their own clients', () => {
  const copies = (t: TargetInfo) =>
    (buildTrayMenu({ ...base, targets: [t] })[2] as Extract<TrayMenuItem, { kind: 'submenu' }>).items.flatMap((i) => (i.kind === 'action' && i.action.type === 'copy' ? [i.action.text] : []));
  assert.deepEqual(copies(running('my', 13306, { connector: 'mysql', database: 'app' })), [
    'mariadb -h 127.0.0.1 -P 13306 app',
    'mysql -h 127.0.0.1 -P 13306 app',
    'mysql://127.0.0.1:13306/app',
    'jdbc:mariadb://127.0.0.1:13306/app',
    'jdbc:mysql://127.0.0.1:13306/app',
    '127.0.0.1:13306',
  ]);
  assert.deepEqual(copies(target('my-sock', { state: 'listening', address: 'unix:///run/sd/mysql.sock' }, { connector: 'mysql' })), ['mariadb -S /run/sd/mysql.sock', '/run/sd/mysql.sock']);
  // The known_hosts line names the host the way the copied command makes ssh look it up.
  assert.deepEqual(copies(running('box', 2222, { connector: 'ssh', hostPublicKey: 'ssh-ed25519 AAAAkey' })), ['ssh -p 2222 127.0.0.1', '[127.0.0.1]:2222 ssh-ed25519 AAAAkey', '127.0.0.1:2222']);
  assert.deepEqual(copies(running('box', 2222, { connector: 'ssh', hostPublicKey: 'ssh-ed25519 AAAAkey', hostAlias: 'devbox' })), [
    'ssh -o HostKeyAlias=devbox -p 2222 127.0.0.1',
    'devbox ssh-ed25519 AAAAkey',
    'Host devbox\n  HostName 127.0.0.1\n  Port 2222\n  HostKeyAlias devbox\n',
    '127.0.0.1:2222',
  ]);
  assert.deepEqual(copies(target('agent', { state: 'listening', address: 'unix:///run/sd/agent.sock' }, { connector: 'ssh-agent' })), ['export SSH_AUTH_SOCK=/run/sd/agent.sock']);
});

test('health drives the tray: a listening target whose logins fail is attention, named in the tooltip and its menu', () => {
  const rejected = running('app-db', 15432, {
    health: { type: 'credentials-rejected', at: '2026-01-01T11:59:00Z', code: 'target_rejected_credentials', reason: 'password authentication failed for user "app"' },
  });
  const input = { ...base, targets: [rejected, running('ok-db', 15433, { health: { type: 'ok', at: '2026-01-01T11:58:00Z' } })] };
  assert.equal(trayState(input), 'attention');
  assert.equal(trayTooltip(input), 'Secretless Desktop: 2 of 2 running, 1 failing: app-db (credentials rejected)');
  const menu = buildTrayMenu(input);
  assert.equal((menu[2] as Extract<TrayMenuItem, { kind: 'submenu' }>).label, 'app-db: credentials rejected');
  assert.deepEqual((menu[2] as Extract<TrayMenuItem, { kind: 'submenu' }>).items[0], { kind: 'label', label: 'credentials rejected: password authentication failed for user "app"' });
  // Recovered: the next successful login turns it back to active.
  assert.equal(trayState({ ...input, targets: [running('app-db', 15432, { health: { type: 'ok', at: '2026-01-01T12:00:00Z' } })] }), 'active');
});

test('menu: locked, the item unlocks; programs waiting for approval are named at the top and open the window', () => {
  const menu = buildTrayMenu({ ...base, targets: [], locked: true, approvalsWaiting: 2 });
  const labels = menu.map((i) => ('label' in i ? i.label : '---'));
  assert.equal(labels[1], '2 programs waiting for your approval…');
  assert.deepEqual((menu[1] as Extract<TrayMenuItem, { kind: 'action' }>).action, { type: 'open-window' });
  const unlock = menu.find((i) => 'label' in i && i.label === 'Unlock') as Extract<TrayMenuItem, { kind: 'action' }>;
  assert.deepEqual(unlock.action, { type: 'unlock' });
  assert.ok(!labels.some((l) => l.startsWith('Lock')));
});
