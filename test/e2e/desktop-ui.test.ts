// End to end in a real browser: the real `serve --ui` process with a real PostgreSQL,
// the built renderer in Debian's Chromium (headless, through playwright-core). The user
// opens the printed URL, sees the targets, starts the stopped one, runs psql against the
// address the page shows, sees the connection in the audit feed, stops it and psql is
// refused; adds a target with its password stored in the OS keychain; screenshots the
// main screen (light and dark) into test-output/. Nothing on the page or in any response
// holds a password. Runs under scripts/with-keyring.sh (npm test does).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { freePort } from '../fixtures/free-port.js';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { psql } from '../fixtures/run.js';
import { launchChromium, startUiBroker, type UiBroker } from '../fixtures/ui-broker.js';

const OUT = join(process.cwd(), 'test-output');
let cluster: PgCluster;
let dir: string;
let configPath: string;
let broker: UiBroker;
let pageUrl: string;
let browser: Browser;
let page: Page;
const responses: string[] = [];

before(async () => {
  cluster = await startPgCluster();
  dir = mkdtempSync(join(tmpdir(), 'sd-e2e-'));
  configPath = join(dir, 'secretless.yml');
  writeFileSync(
    configPath,
    `# Targets for the end-to-end test
version: "2"
services:
  app-db:
    connector: pg
    listenOn: tcp://127.0.0.1:0
    credentials:
      host: 127.0.0.1
      port: ${cluster.port}
      username: ${cluster.users.scram.name}
      password:
        from: env
        get: APP_DB_PW
      sslmode: disable
  reports:
    connector: pg
    listenOn: tcp://127.0.0.1:0
    credentials:
      host: 127.0.0.1
      port: ${cluster.port}
      username: ${cluster.users.plain.name}
      password:
        from: env
        get: REPORTS_PW
      sslmode: disable
  jump-host:
    connector: ssh
    listenOn: tcp://127.0.0.1:0
    credentials:
      address: "127.0.0.1:1"
      user: deploy
      password: { from: env, get: REPORTS_PW }
      hostKey: SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU
`,
  );
  // app-db starts out stopped, as the user left it last time.
  const state = join(dir, 'state', 'secretless-desktop');
  mkdirSync(state, { recursive: true, mode: 0o700 });
  writeFileSync(join(state, 'targets.json'), JSON.stringify({ stopped: ['app-db'] }), { mode: 0o600 });

  broker = await startUiBroker({ configPath, dir, env: { APP_DB_PW: cluster.users.scram.password, REPORTS_PW: cluster.users.plain.password } });
  pageUrl = broker.pageUrl;
  browser = await launchChromium();
  const context = await browser.newContext({ colorScheme: 'light', viewport: { width: 1200, height: 900 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(pageUrl).origin });
  page = await context.newPage();
  page.on('response', async (res) => {
    try {
      responses.push(await res.text());
    } catch {
      // Streams (the event feed) have no final body.
    }
  });
});

after(async () => {
  await browser?.close().catch(() => {});
  await broker?.stop();
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const row = (name: string) => page.locator(`li.target[data-target="${name}"]`);

async function addressShown(name: string): Promise<{ host: string; port: number }> {
  const text = (await row(name).getByTestId('address').textContent()) ?? '';
  const m = /^tcp:\/\/(127\.0\.0\.1):(\d+)$/.exec(text);
  if (!m) throw new Error(`unexpected address '${text}'`);
  return { host: m[1]!, port: Number(m[2]) };
}

test('open the page with the token: it leaves the address bar, the targets are listed', async () => {
  await page.goto(pageUrl);
  await page.getByRole('heading', { name: 'Targets' }).waitFor();
  assert.ok(!page.url().includes('token'), `the token is stripped from the address bar: ${page.url()}`);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('secretless-desktop-token')), new URL(pageUrl).hash.slice('#token='.length));
  await row('app-db').getByTestId('state').filter({ hasText: 'Stopped' }).waitFor();
  await row('reports').getByTestId('state').filter({ hasText: 'Listening' }).waitFor();
  assert.equal(await row('app-db').getByTestId('address').textContent(), 'tcp://127.0.0.1:0', 'the configured address while stopped');
  // The ssh target shows the broker's own host key, as ssh-keygen reads it from the key file.
  const shown = (await row('jump-host').getByTestId('host-key').textContent()) ?? '';
  const keyFile = join(dir, 'state', 'secretless-desktop', 'ssh-host-ed25519.key');
  assert.match(shown, /^SHA256:[A-Za-z0-9+/]{43}$/);
  assert.ok(execFileSync('ssh-keygen', ['-lf', keyFile], { encoding: 'utf8' }).includes(shown), 'the fingerprint ssh-keygen reports');
  // A reload keeps working without the token in the URL.
  await page.reload();
  await row('app-db').waitFor();
});

test('Start, psql to the address shown, the connection in the audit feed, Stop, psql refused', async () => {
  await page.getByRole('button', { name: 'Start app-db' }).click();
  await row('app-db').getByTestId('state').filter({ hasText: 'Listening' }).waitFor();
  const { host, port } = await addressShown('app-db');
  assert.notEqual(port, 0);

  const ok = await psql(host, port, 'select current_user');
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.trim(), cluster.users.scram.name);

  // One row per connection: ok once closed, expanding to its records in order.
  const feed = page.getByRole('log', { name: 'Audit feed, newest first' });
  const connection = feed.locator('li[data-kind="connection"][data-target="app-db"][data-outcome="ok"]');
  await connection.waitFor();
  assert.equal(await feed.locator('li[data-kind="connection"][data-target="app-db"]').count(), 1, 'one row for the one psql connection');
  await connection.locator('summary').click();
  const types = await connection.locator('li[data-type]').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-type')));
  assert.equal(types[0], 'connection.opened');
  assert.ok(types.includes('connection.authenticated'), types.join(','));
  assert.equal(types.at(-1), 'connection.closed');
  // The row names the client and the bytes; the app-db start is a readable event row.
  assert.match((await connection.locator('summary').textContent()) ?? '', /app-db.*127\.0\.0\.1:\d+.*B ↑.*B ↓.*ok/);
  await feed.locator('li[data-kind="event"][data-type="service.started"][data-target="app-db"]', { hasText: 'listening on tcp://127.0.0.1:' }).waitFor();

  // Filters: by target and by outcome.
  await page.getByLabel('Target', { exact: true }).selectOption('reports');
  assert.equal(await feed.locator('li[data-target="app-db"]').count(), 0);
  await page.getByLabel('Target', { exact: true }).selectOption('');
  await page.getByLabel('Outcome').selectOption('failed');
  await page.getByText('No audit records match the filters.').waitFor();
  await page.getByLabel('Outcome').selectOption('');

  // The copy buttons put a ready connection string on the clipboard.
  await row('app-db').getByRole('button', { name: 'Copy connection strings for app-db' }).click();
  await page.getByRole('menu', { name: 'Copy for app-db' }).getByRole('menuitem', { name: /^URI/ }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), `postgresql://${host}:${port}/postgres`);

  // Search narrows the list.
  await page.getByLabel('Filter targets').fill('rep');
  assert.equal(await page.locator('li.target').count(), 1);
  await page.getByLabel('Filter targets').fill('');

  await page.screenshot({ path: join(OUT, 'desktop-main-light.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  const background = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  assert.equal(background, 'rgb(20, 23, 28)', 'dark colours under prefers-color-scheme: dark');
  await page.screenshot({ path: join(OUT, 'desktop-main-dark.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'light' });

  await page.getByRole('button', { name: 'Stop app-db' }).click();
  await row('app-db').getByTestId('state').filter({ hasText: 'Stopped' }).waitFor();
  const refused = await psql(host, port, 'select 1');
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /Connection refused|could not connect/);
});

test('add a target from the form, by keyboard: fixed port, password into the OS keychain', async () => {
  const port = await freePort();
  await page.getByRole('button', { name: 'Add target' }).focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Add a target' });
  await dialog.waitFor();
  await dialog.getByLabel('Name', { exact: true }).fill('form-db');
  // The form is the pg template: its port and the keychain item named after the target.
  assert.equal(await dialog.getByLabel('Port', { exact: true }).inputValue(), '5432');
  assert.equal(await dialog.getByLabel('Password keychain item', { exact: true }).inputValue(), 'secretless-desktop/form-db#password');
  await dialog.getByLabel('Local port', { exact: true }).fill(String(port));
  await dialog.getByLabel('Host', { exact: true }).fill('127.0.0.1');
  await dialog.getByLabel('Port', { exact: true }).fill(String(cluster.port));
  await dialog.getByLabel('User', { exact: true }).fill(cluster.users.md5.name);
  await dialog.getByLabel('TLS (sslmode)', { exact: true }).selectOption('disable');
  await dialog.getByLabel('Password to store in the keychain', { exact: true }).fill(cluster.users.md5.password);
  await dialog.getByLabel('Password to store in the keychain', { exact: true }).press('Enter');
  await dialog.waitFor({ state: 'detached' });

  await row('form-db').getByTestId('state').filter({ hasText: 'Listening' }).waitFor();
  assert.deepEqual(await addressShown('form-db'), { host: '127.0.0.1', port });
  const ok = await psql('127.0.0.1', port, 'select current_user');
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.trim(), cluster.users.md5.name);

  const config = readFileSync(configPath, 'utf8');
  assert.match(config, /^# Targets for the end-to-end test\n/, 'comments kept');
  assert.match(config, new RegExp(`form-db:\\n    connector: pg\\n    listenOn: tcp://127\\.0\\.0\\.1:${port}\\n`), 'the fixed port is in the config');
  assert.match(config, /password:\n        from: keychain\n        get: secretless-desktop\/form-db#password/);

  // Escape closes the form without saving.
  await page.getByRole('button', { name: 'Edit form-db' }).click();
  await page.getByRole('dialog', { name: 'Edit form-db' }).waitFor();
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'detached' });
});

test('no password on the page, in any response, or in what the broker printed', async () => {
  const html = await page.content();
  const text = [html, ...responses, broker.output(), readFileSync(configPath, 'utf8'), readFileSync(join(dir, 'state', 'secretless-desktop', 'audit.jsonl'), 'utf8')].join('\n');
  assert.ok(responses.length > 10);
  for (const secret of [cluster.users.scram.password, cluster.users.plain.password, cluster.users.md5.password]) {
    assert.ok(!text.includes(secret), 'a password leaked');
  }
});

test('countdowns run live and turn into an expired / renew state (renderer on the preload-bridge path)', async () => {
  // The same built renderer, with window.secretless present as the Electron preload would
  // provide it: here a scripted BrokerApi, so expiries can be seconds away.
  const context = await browser.newContext({ colorScheme: 'dark', viewport: { width: 1200, height: 700 } });
  try {
    await context.addInitScript(() => {
      const now = Date.now();
      const iso = (ms: number) => new Date(now + ms).toISOString();
      const calls: string[] = [];
      (window as unknown as { __calls: string[] }).__calls = calls;
      const target = (name: string, credentialExpiresAt: string, identity?: string) => ({
        name,
        connector: 'pg',
        listenOn: 'tcp://127.0.0.1:15432',
        status: { state: 'listening', address: 'tcp://127.0.0.1:15432' },
        connections: 2,
        health: { type: 'listening' },
        credentialExpiresAt,
        ...(identity ? { identity } : {}),
      });
      // The login completes when the test calls __finishLogin: a fresh session, announced as an event.
      let session = { name: 'corp', issuer: 'https://login.example.com', state: 'active', expiresAt: iso(3_000) };
      let listener: ((e: unknown) => void) | undefined;
      (window as unknown as { __finishLogin: () => void }).__finishLogin = () => {
        session = { ...session, expiresAt: new Date(Date.now() + 3_600_000).toISOString() };
        listener?.({ type: 'session.changed', session });
      };
      (window as unknown as { secretless: unknown }).secretless = {
        listTargets: async () => [target('sts-db', iso(65_000), 'corp'), { ...target('old-db', iso(-5_000)), status: { state: 'error', reason: 'listen EADDRINUSE 127.0.0.1:15433' }, health: { type: 'listener-failed', at: iso(0), code: 'listener_failed', reason: 'listen EADDRINUSE 127.0.0.1:15433' }, connections: 0 }],
        listSessions: async () => [session],
        recentAudit: async () => [],
        login: async (name: string) => (calls.push(`login ${name}`), { flow: 'device_code', verificationUri: 'https://login.example.com/device', userCode: 'WDJB-MJHT' }),
        logout: async () => {},
        startTarget: async () => {},
        stopTarget: async () => {},
        saveTarget: async () => {},
        brokerInfo: async () => ({ instanceId: 'standin', startedAt: iso(0), version: '0', configPath: '/x' }),
        connectorTemplates: async () => [],
        subscribe: (l: (e: unknown) => void) => ((listener = l), () => (listener = undefined)),
      };
    });
    const p = await context.newPage();
    await p.goto(new URL(pageUrl).origin + '/');
    const sts = p.locator('li.target[data-target="sts-db"]');
    await sts.getByText('2 connections').waitFor();
    await p.locator('li.target[data-target="old-db"]').getByText('Not listening: listen EADDRINUSE 127.0.0.1:15433').waitFor();
    const credential = sts.locator('time', { hasText: 'Credential expires in' });
    const first = (await credential.textContent())!;
    assert.match(first, /^Credential expires in 1m 0\ds$/);
    await p.waitForFunction((before) => document.querySelector('li.target[data-target="sts-db"] time')?.textContent !== before, first);
    await p.locator('li.target[data-target="old-db"]').getByText('Credential expired').waitFor();
    // The session runs out while we watch: expired, with a way to renew it.
    await sts.getByText('Session corp expired').waitFor({ timeout: 10_000 });
    await p.getByRole('listitem', { name: 'Identity corp' }).getByText('Session expired').waitFor();
    await sts.getByRole('button', { name: 'Log in again' }).click();
    await p.getByRole('status').filter({ hasText: 'WDJB-MJHT' }).waitFor();
    assert.deepEqual(await p.evaluate(() => (window as unknown as { __calls: string[] }).__calls), ['login corp']);
    await p.screenshot({ path: join(OUT, 'desktop-expiries-dark.png'), fullPage: true });
    // Logged in: the login notice goes (it would be stale), the session counts down again.
    await p.evaluate(() => (window as unknown as { __finishLogin: () => void }).__finishLogin());
    await p.getByRole('status').filter({ hasText: 'WDJB-MJHT' }).waitFor({ state: 'detached' });
    await sts.getByText(/^Session corp expires in (59m|1h)/).waitFor();
  } finally {
    await context.close();
  }
});
