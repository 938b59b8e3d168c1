// The desktop app, run for real (test/electron-harness): the real main process, the real
// broker in its utility process, the real renderer and preload in Chromium, a real
// PostgreSQL, psql, the real OS keychain (gnome-keyring under with-keyring.sh) and a real
// OpenID provider. One user's session from launch to quit, step by step.
import { AsyncEntry } from '@napi-rs/keyring';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { IdentitySessionInfo } from '../../broker/api.js';
import { closeHarness, launchApp, type DesktopApp } from '../electron-harness/harness.js';
import { startOidcProvider, type TestOidcProvider } from '../fixtures/oidc-provider.js';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { clientEnv, run } from '../fixtures/run.js';

let cluster: PgCluster;
let op: TestOidcProvider;
let desktop: DesktopApp;
let configFile: string;
const keychain = new AsyncEntry('secretless-walk', 'db');
const passwords: string[] = [];

const config = (broken = false) => `version: "2"
identities:
  corp:
    issuer: ${op.issuer}
    clientId: ${op.clientId}
    scopes: [openid, offline_access]
services:
  db:
    connector: pg
    listenOn: tcp://127.0.0.1:0
    credentials:
      host: 127.0.0.1
      port: ${cluster.port}
      username: scram_user
      password: { from: keychain, get: "secretless-walk#db" }
      sslmode: disable
${broken ? '  bad:\n    connector: nosuch\n    listenOn: tcp://127.0.0.1:0\n' : ''}`;

before(async () => {
  [cluster, op] = await Promise.all([startPgCluster(), startOidcProvider({ idTokenTtl: 8 })]);
  passwords.push(cluster.users.scram.password);
  await keychain.setPassword(cluster.users.scram.password);
  const home = mkdtempSync(join(tmpdir(), 'sl-walk-'));
  const dir = join(home, '.config', 'secretless-desktop');
  mkdirSync(dir, { recursive: true });
  configFile = join(dir, 'secretless.yml');
  writeFileSync(configFile, config());
  // The user stopped db last time: it starts stopped.
  const state = join(home, '.local', 'state', 'secretless-desktop');
  mkdirSync(state, { recursive: true });
  writeFileSync(join(state, 'targets.json'), JSON.stringify({ stopped: ['db'] }));
  desktop = await launchApp({ home });
});
after(async () => {
  await desktop?.close();
  await closeHarness();
  await keychain.deletePassword().catch(() => {});
  await Promise.all([cluster?.stop(), op?.stop()]);
});

const notification = (title: RegExp) => desktop.until(`a notification ${title}`, () => desktop.notifications().find((n) => title.test(n.title)));
const sessions = async (): Promise<IdentitySessionInfo[]> =>
  (await desktop.page()).evaluate(() => (window as unknown as { secretless: { listSessions(): Promise<IdentitySessionInfo[]> } }).secretless.listSessions());

test('launch: the tray shows the configured target, stopped; the window shows it too', async () => {
  await desktop.until('db in the tray', () => desktop.tray.labels().includes('db: stopped'));
  assert.match(desktop.tray.tooltip(), /0 of 1 running/);
  // The corp identity is not logged in yet: the icon asks for attention.
  assert.match(desktop.tray.icon().path, /tray-attention\.png$/);
  const page = await desktop.page();
  await page.getByText('db', { exact: true }).first().waitFor();
  // The page loaded while the broker was starting: its first calls waited instead of failing.
  assert.equal(await page.getByText(/the broker is starting/).count(), 0);
});

test('Start in the tray menu, then psql connects through the address the menu copies', async () => {
  desktop.tray.click('db', 'Start');
  await desktop.until('db running', () => desktop.tray.labels().includes('db: running'));
  desktop.tray.click('db', 'Copy URI');
  const uri = desktop.state.clipboard;
  // The target's default database is part of the copied string: it works pasted as it is.
  assert.match(uri, /^postgresql:\/\/127\.0\.0\.1:\d+\/postgres$/);
  const r = await run('psql', ['-X', '-Atc', 'select current_user', uri], { env: clientEnv() });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'scram_user');
  await (await desktop.page()).screenshot({ path: 'test-output/electron-walk-running.png' });
});

test('rotating the keychain password: new connections work, a "credential rotated" notification opens the window at db', async () => {
  const next = `rotated-${Date.now()}`;
  passwords.push(next);
  await cluster.psql(`ALTER ROLE scram_user PASSWORD '${next}'`);
  await keychain.setPassword(next);
  desktop.tray.click('db', 'Copy URI');
  const r = await run('psql', ['-X', '-Atc', 'select 1', desktop.state.clipboard], { env: clientEnv() });
  assert.equal(r.code, 0, r.stderr);
  const n = await notification(/^Credential rotated for db$/);
  desktop.window()!.hide();
  n.click();
  await desktop.until('the window shown', () => desktop.window()?.isVisible());
  const sent = desktop.window()!.webContents.sent.map((s) => s.args[0] as { type: string; target?: string });
  assert.ok(sent.some((e) => e.type === 'ui.focus' && e.target === 'db'), 'the page is told to show db');
});

test('a broken config: one notification naming the line, the broker keeps running (no restart loop); fixed, all is back', async () => {
  const before = desktop.notifications().length;
  writeFileSync(configFile, config(true));
  const n = await notification(/config has an error/);
  assert.match(n.body, /secretless\.yml, line 18: services\.bad\.connector: unknown connector 'nosuch'/);
  await desktop.until('the tray says so', () => /config error \(line 18\)/.test(desktop.tray.tooltip()));
  // Saved again (editors do), still broken: no second notification, no restart.
  writeFileSync(configFile, config(true) + '\n');
  const page = await desktop.page();
  const stateEvents = () => desktop.window()!.webContents.sent.filter((s) => (s.args[0] as { type: string }).type === 'broker.state');
  await desktop.until('the window told of the config error', () => stateEvents().some((s) => JSON.stringify(s.args[0]).includes('config-error')));
  await page.screenshot({ path: 'test-output/electron-walk-config-error.png' });
  writeFileSync(configFile, config());
  await desktop.until('running again', () => /1 of 1 running/.test(desktop.tray.tooltip()));
  assert.equal(desktop.notifications().length - before, 1, desktop.notifications().map((x) => x.title).join(' | '));
  assert.equal(desktop.brokers().length, 1, 'the same broker process throughout');
  await page.getByText('db', { exact: true }).first().waitFor();
});

test('sleep past a session expiry: suspend drains and stops the broker, resume brings it back with the session refreshed', async () => {
  const page = await desktop.page();
  const start = await page.evaluate(() => (window as unknown as { secretless: { login(n: string): Promise<{ flow: string; url: string }> } }).secretless.login('corp'));
  assert.equal(start.flow, 'authorization_code');
  // The page opens the login page as the renderer does: main sends it to the browser (a configured issuer's page).
  await page.evaluate((url) => void window.open(url, '_blank', 'noopener,noreferrer'), start.url);
  await desktop.until('the login page opened in the browser', () => desktop.state.opened.some((o) => o.url === start.url));
  await op.approve(start.url);
  const active = await desktop.until('the session active', async () => (await sessions()).find((s) => s.name === 'corp' && s.state === 'active'));
  const broker = desktop.brokers()[0]!;
  desktop.power('suspend');
  assert.equal(await broker.exited, 0, 'the broker stopped cleanly for the sleep');
  await desktop.until('the tray shows the broker stopped', () => /broker stopped/.test(desktop.tray.tooltip()));
  // The sleep: the clock passes the session's expiry while nothing runs.
  const expired = Date.parse(active.expiresAt!) + 1_000;
  await desktop.until('the session expiry to pass', () => Date.now() > expired, 30_000);
  const refreshes = op.grants['refresh_token'] ?? 0;
  desktop.power('resume');
  const fresh = await desktop.until('the session refreshed', async () => (await sessions()).find((s) => s.name === 'corp' && s.state === 'active' && Date.parse(s.expiresAt!) > Date.now()));
  assert.ok(Date.parse(fresh.expiresAt!) > expired);
  assert.ok((op.grants['refresh_token'] ?? 0) > refreshes, 'refreshed with the refresh token, no new login');
  assert.equal(desktop.brokers().length, 2);
  await desktop.until('db running again', () => desktop.tray.labels().includes('db: running'));
});

test('a sleep the app did not see (no suspend event): resume refreshes the session whose timer slept through its expiry', async () => {
  const active = await desktop.until('the session active', async () => (await sessions()).find((s) => s.name === 'corp' && s.state === 'active'));
  const broker = desktop.brokers().at(-1)!;
  // The sleep, for the broker process only: it does not run while the clock passes the expiry.
  process.kill(broker.child.pid!, 'SIGSTOP');
  const expired = Date.parse(active.expiresAt!) + 1_000;
  try {
    await desktop.until('the session expiry to pass', () => Date.now() > expired, 30_000);
  } finally {
    process.kill(broker.child.pid!, 'SIGCONT');
  }
  desktop.power('resume');
  const fresh = await desktop.until('the session refreshed', async () => (await sessions()).find((s) => s.name === 'corp' && s.state === 'active' && Date.parse(s.expiresAt!) > expired));
  assert.ok(fresh);
  assert.equal(desktop.brokers().length, 2, 'the same broker, not restarted');
});

test('quit: the broker drains and exits; its log is a 0600 file without secrets, nothing on the console', async () => {
  const broker = desktop.brokers().at(-1)!;
  await desktop.quit();
  assert.equal(await broker.exited, 0);
  const log = join(desktop.stateDir, 'logs', 'broker.log');
  assert.equal(statSync(log).mode & 0o777, 0o600);
  const text = readFileSync(log, 'utf8');
  assert.match(text, /stopping .*signal="stop requested by the app"/);
  assert.match(text, /INFO  stopped/);
  const control = readFileSync(join(desktop.stateDir, 'logs', 'main.log'), 'utf8');
  for (const secret of passwords) {
    assert.ok(!text.includes(secret) && !control.includes(secret), 'no password in the logs');
  }
  assert.doesNotMatch(text + control, /token=|#token/, 'the control token never logged');
});
