// Approvals in the desktop shell, through a real launch of main.js in the harness (real
// broker process, real PostgreSQL, real psql): a waiting psql brings the window forward
// and shows a notification naming psql with Allow / Deny actions; pressing "Allow once"
// lets psql run; "Deny" gives it the broker's message. The tray's Lock makes every new
// connection ask; a screen lock locks by itself (lockOnScreenLock follows approval: ask).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { BrokerApi } from '../../broker/api.js';
import { createHttpBrokerApi } from '../../broker/control/http-client.js';
import { closeHarness, launchApp, type DesktopApp } from '../electron-harness/harness.js';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { startPsql, type RunResult } from '../fixtures/run.js';
import { configYaml } from '../fixtures/yaml.js';

let cluster: PgCluster;
let app: DesktopApp;
const children = new Set<ChildProcess>();

before(async () => {
  cluster = await startPgCluster();
  const home = mkdtempSync(join(tmpdir(), 'sl-approvals-'));
  const dir = join(home, '.config', 'secretless-desktop');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'secretless.yml'),
    configYaml({ db: { connector: 'pg', approval: 'ask', credentials: { host: '127.0.0.1', port: cluster.port, username: cluster.users.trust.name, sslmode: 'disable' } } }),
  );
  app = await launchApp({ home, args: ['--hidden'] });
  await app.until('db running', () => app.tray.labels().includes('db: running'));
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await app?.close();
  await closeHarness();
  await cluster?.stop();
});

/** The control API the app's broker serves (its control file is in the app's state dir). */
function api(): BrokerApi {
  const info = JSON.parse(readFileSync(join(app.stateDir, 'control.json'), 'utf8')) as { url: string; token: string };
  return createHttpBrokerApi({ baseUrl: info.url, token: info.token });
}

async function dbPort(): Promise<number> {
  const db = (await api().listTargets()).find((t) => t.name === 'db')!;
  return Number(/:(\d+)$/.exec((db.status as { address: string }).address)![1]);
}

function psql(port: number, sql: string): { child: ChildProcess; done: Promise<RunResult> } {
  const client = startPsql(port, sql);
  children.add(client.child);
  return { child: client.child, done: client.done.finally(() => children.delete(client.child)) };
}

test('a waiting psql: the window comes forward, a notification names psql with its actions; Allow once lets it run, Deny refuses it', async () => {
  assert.equal(app.window(), undefined, 'started hidden');
  const port = await dbPort();
  const seen = app.notifications().length;
  const client = psql(port, 'select 6 * 7');
  const note = await app.until('the approval notification', () => app.notifications().slice(seen).find((n) => n.title === 'psql wants to use db'));
  assert.match(note.body, new RegExp(`/psql \\(pid ${client.child.pid}\\)`));
  assert.deepEqual(note.actions, ['Allow once', 'Allow until it exits', 'Deny']);
  const w = await app.until('the window in front', () => (app.window()?.isVisible() ? app.window() : undefined));
  await app.until('the page told which prompt', () => w.webContents.sent.some((s) => (s.args[0] as { type?: string; approval?: string })?.type === 'ui.focus' && !!(s.args[0] as { approval?: string }).approval));
  note.act('Allow once');
  const r = await client.done;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '42');

  const before = app.notifications().length;
  const refused = psql(port, 'select 1');
  const second = await app.until('the second notification', () => app.notifications().slice(before).find((n) => n.title === 'psql wants to use db'));
  second.act('Deny');
  const r2 = await refused.done;
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /FATAL: +the broker's user did not allow this program/);
});

test('the tray Lock and a screen lock: locked, the tray offers Unlock; unlocking from the tray ends it', async () => {
  app.tray.click('Lock');
  await app.until('the tray offers Unlock', () => app.tray.labels().includes('Unlock'));
  app.tray.click('Unlock');
  await app.until('unlocked', () => app.tray.labels().some((l) => l.startsWith('Lock')));
  app.power('lock-screen');
  await app.until('locked by the screen lock', () => app.tray.labels().includes('Unlock'));
  const state = await api().lockState();
  assert.deepEqual({ locked: state.locked, reason: state.reason }, { locked: true, reason: 'screen-lock' });
});
