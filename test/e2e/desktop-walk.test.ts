// The desktop UI as a user walks it, in real Chromium against the real `serve --ui`, a
// real PostgreSQL, MariaDB and OpenSSH: add a pg, a MariaDB and an ssh target with their
// secrets in the OS keychain (a second target does not take over the first one's item
// unless the user confirms), test each connection, copy every connection string and run
// it in psql / mariadb / ssh as pasted, see a wrong password and a database that is down
// in the list, drive it by keyboard in the narrow (tray) layout, restart the broker under
// the open page, delete a target. Screenshots (light, dark, narrow) go to test-output/.
// Runs under scripts/with-keyring.sh (npm test does).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { freePort } from '../fixtures/free-port.js';
import { startMariaDb, type MariaDb } from '../fixtures/mariadb-cluster.js';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { clientEnv, run } from '../fixtures/run.js';
import { makeKey, startSshd, type KeyFiles, type Sshd } from '../fixtures/sshd.js';
import { launchChromium, startUiBroker, type UiBroker } from '../fixtures/ui-broker.js';

const OUT = join(process.cwd(), 'test-output');
let pg: PgCluster;
let maria: MariaDb;
let sshd: Sshd;
let dir: string;
let configPath: string;
let broker: UiBroker;
let browser: Browser;
let wide: BrowserContext;
let page: Page;
let clientKey: KeyFiles;
let upstreamKey: KeyFiles;
const responses: string[] = [];
const ports: Record<string, number> = {};
const secrets: string[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sd-walk-'));
  [pg, maria, sshd] = await Promise.all([startPgCluster(), startMariaDb(), startSshd()]);
  clientKey = makeKey(dir, 'client', 'ed25519');
  upstreamKey = makeKey(dir, 'upstream', 'ed25519');
  sshd.authorize(upstreamKey.publicLine);
  secrets.push(pg.users.scram.password, pg.users.md5.password, maria.users.native.password, upstreamKey.privateText.split('\n').slice(1, -2).join(''));
  configPath = join(dir, 'secretless.yml');
  writeFileSync(configPath, 'version: "2"\nservices: {}\n');
  mkdirSync(join(dir, 'state'), { recursive: true });
  for (const name of ['shop-pg', 'reports', 'shop-maria', 'jump']) ports[name] = await freePort();
  broker = await startUiBroker({ configPath, dir, uiPort: await freePort() });
  browser = await launchChromium();
  wide = await browser.newContext({ colorScheme: 'light', viewport: { width: 1200, height: 900 } });
  await wide.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(broker.pageUrl).origin });
  page = await wide.newPage();
  page.on('response', async (res) => {
    try {
      responses.push(await res.text());
    } catch {
      // Streams (the event feed) have no final body.
    }
  });
  await page.goto(broker.pageUrl);
  await page.getByRole('heading', { name: 'Targets' }).waitFor();
});

after(async () => {
  await browser?.close().catch(() => {});
  await broker?.stop();
  await Promise.all([pg?.stop(), maria?.stop(), sshd?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const row = (name: string) => page.locator(`li.target[data-target="${name}"]`);
const health = (name: string) => row(name).getByTestId('state');

async function openAdd(): Promise<ReturnType<Page['getByRole']>> {
  await page.getByRole('button', { name: 'Add target' }).click();
  const dialog = page.getByRole('dialog', { name: 'Add a target' });
  await dialog.waitFor();
  return dialog;
}

/** The database form as a user fills it: listener, server, user, no TLS, the default database. */
async function fillDatabase(dialog: ReturnType<Page['getByRole']>, o: { name: string; port: number; user: string }): Promise<void> {
  const field = (label: string) => dialog.getByLabel(label, { exact: true });
  await field('Local port').fill(String(ports[o.name]));
  await field('Host').fill('127.0.0.1');
  await field('Port').fill(String(o.port));
  await field('User').fill(o.user);
  await field('TLS (sslmode)').selectOption('disable');
  await field('Default database').fill('app');
}

async function save(dialog: ReturnType<Page['getByRole']>): Promise<void> {
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.waitFor({ state: 'detached' });
}

test('add a PostgreSQL target: the form is the pg template, the password goes to the keychain under the target name', async () => {
  const dialog = await openAdd();
  await dialog.getByLabel('Name', { exact: true }).fill('shop-pg');
  assert.equal(await dialog.getByLabel('Password keychain item', { exact: true }).inputValue(), 'secretless-desktop/shop-pg#password');
  // Every connector the broker has, from its templates (ssh-agent and ssh-tunnel included).
  const protocols = await dialog.getByLabel('Protocol', { exact: true }).locator('option').allTextContents();
  for (const p of ['PostgreSQL', 'MySQL / MariaDB', 'SSH', 'SSH agent', 'SSH tunnel']) assert.ok(protocols.includes(p), `${p} in ${protocols.join(', ')}`);

  // An empty required field is pointed at, not saved.
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.locator('#f-cred-host-error, #f-cred-username-error').first().waitFor();
  assert.equal(await dialog.getByLabel('User', { exact: true }).getAttribute('aria-invalid'), 'true');
  await fillDatabase(dialog, { name: 'shop-pg', port: pg.port, user: pg.users.scram.name });
  await dialog.getByLabel('Password to store in the keychain', { exact: true }).fill(pg.users.scram.password);
  await save(dialog);
  await health('shop-pg').filter({ hasText: 'Listening' }).waitFor();
  const config = readFileSync(configPath, 'utf8');
  assert.match(config, /shop-pg:\n {4}connector: pg\n/);
  assert.match(config, /password:\n {8}from: keychain\n {8}get: secretless-desktop\/shop-pg#password/);
});

test("a second target does not take over the first one's keychain item unless the user confirms", async () => {
  const dialog = await openAdd();
  await dialog.getByLabel('Name', { exact: true }).fill('reports');
  assert.equal(await dialog.getByLabel('Password keychain item', { exact: true }).inputValue(), 'secretless-desktop/reports#password', 'its own item by default');
  await fillDatabase(dialog, { name: 'reports', port: pg.port, user: pg.users.md5.name });
  // The user points it at shop-pg's item and types a password: the broker asks first.
  await dialog.getByLabel('Password keychain item', { exact: true }).fill('secretless-desktop/shop-pg#password');
  await dialog.getByLabel('Password to store in the keychain', { exact: true }).fill(pg.users.md5.password);
  await dialog.getByRole('button', { name: 'Save' }).click();
  const conflict = dialog.getByTestId('keychain-conflict');
  await conflict.waitFor();
  assert.match((await conflict.textContent()) ?? '', /secretless-desktop\/shop-pg#password already holds a secret, used by shop-pg/);
  await page.screenshot({ path: join(OUT, 'walk-keychain-confirm-light.png') });
  // They decline: back to its own item.
  await conflict.getByRole('button', { name: 'Use another item' }).click();
  await dialog.getByLabel('Password keychain item', { exact: true }).fill('secretless-desktop/reports#password');
  await save(dialog);
  await health('reports').filter({ hasText: 'Listening' }).waitFor();
});

test('add a MariaDB target: picking MySQL brings its defaults', async () => {
  const dialog = await openAdd();
  await dialog.getByLabel('Name', { exact: true }).fill('shop-maria');
  await dialog.getByLabel('Protocol', { exact: true }).selectOption('mysql');
  assert.equal(await dialog.getByLabel('Port', { exact: true }).inputValue(), '3306');
  assert.equal(await dialog.getByLabel('Password keychain item', { exact: true }).inputValue(), 'secretless-desktop/shop-maria#password');
  await fillDatabase(dialog, { name: 'shop-maria', port: maria.port, user: maria.users.native.name });
  await dialog.getByLabel('Password to store in the keychain', { exact: true }).fill(maria.users.native.password);
  await save(dialog);
  await health('shop-maria').filter({ hasText: 'Listening' }).waitFor();
});

test('add an ssh target: the private key goes to the keychain, a host alias names it', async () => {
  const dialog = await openAdd();
  await dialog.getByLabel('Name', { exact: true }).fill('jump');
  await dialog.getByLabel('Protocol', { exact: true }).selectOption('ssh');
  await dialog.getByLabel('Local port', { exact: true }).fill(String(ports['jump']));
  await dialog.getByLabel('Host', { exact: true }).fill(`127.0.0.1:${sshd.port}`);
  await dialog.getByLabel('User', { exact: true }).fill(sshd.user);
  await dialog.getByLabel('Host key', { exact: true }).fill(sshd.hostKeyLine);
  await dialog.getByLabel('Private key to store in the keychain', { exact: true }).fill(upstreamKey.privateText);
  // Password and passphrase stay empty: not used.
  await dialog.getByLabel('Client keys allowed', { exact: true }).fill(`${clientKey.path}.pub`);
  // The broker's own check points at the field, not at a line of a file.
  await dialog.getByLabel('Host alias', { exact: true }).fill('not a host!');
  await dialog.getByRole('button', { name: 'Save' }).click();
  const aliasError = dialog.locator('#f-config-hostAlias-error');
  await aliasError.waitFor();
  assert.doesNotMatch((await aliasError.textContent()) ?? '', /line \d/);
  assert.equal(await dialog.getByLabel('Host alias', { exact: true }).getAttribute('aria-invalid'), 'true');
  assert.ok(await dialog.getByLabel('Host alias', { exact: true }).evaluate((el) => el === document.activeElement), 'focus on the field');
  await dialog.getByLabel('Host alias', { exact: true }).fill('jump');
  await save(dialog);
  await health('jump').filter({ hasText: 'Listening' }).waitFor();
});

test('Test connection: each target logs in for real and shows it', async () => {
  for (const name of ['shop-pg', 'reports', 'shop-maria', 'jump']) {
    await page.getByRole('button', { name: `Test connection to ${name}` }).click();
    await row(name).getByTestId('test-result').filter({ hasText: /^Test ok: logged in to .* in \d+ ms$/ }).waitFor();
    await health(name).filter({ hasText: 'Last login ok' }).waitFor();
    assert.equal(await row(name).locator('.dot').getAttribute('class'), 'dot green');
  }
  await page.screenshot({ path: join(OUT, 'walk-tested-light.png'), fullPage: true });
});

/** Every item of a target's copy menu, as the clipboard holds it after a click. */
async function copyAll(name: string): Promise<{ label: string; value: string }[]> {
  const out: { label: string; value: string }[] = [];
  const button = page.getByRole('button', { name: `Copy connection strings for ${name}` });
  await button.click();
  const labels = await page.getByRole('menu', { name: `Copy for ${name}` }).locator('.menu-label').allTextContents();
  await page.keyboard.press('Escape');
  for (const label of labels) {
    await button.click();
    await page.getByRole('menu', { name: `Copy for ${name}` }).getByRole('menuitem', { name: new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`) }).click();
    out.push({ label, value: await page.evaluate(() => navigator.clipboard.readText()) });
  }
  return out;
}

const sh = (command: string, env: NodeJS.ProcessEnv = {}) => run('bash', ['-c', command], { env: clientEnv(env) });

test('every copied string works when pasted: psql, mariadb, ssh (with the copied known_hosts line)', async () => {
  const pgStrings = await copyAll('shop-pg');
  let ran = 0;
  for (const { label, value } of pgStrings) {
    if (/^psql /.test(value) || /^postgres(ql)?:\/\//.test(value)) {
      const cmd = /^psql /.test(value) ? `${value} -XAtc 'select current_user, current_database()'` : `psql -XAt '${value}' -c 'select current_user, current_database()'`;
      const r = await sh(cmd);
      assert.equal(r.code, 0, `${label}: ${value}\n${r.stderr}`);
      assert.equal(r.stdout.trim(), `${pg.users.scram.name}|app`, `${label} opens the default database`);
      ran++;
    } else if (/^PGSERVICE|^\[/.test(value)) {
      // A pg_service.conf snippet: write it and connect by service name.
      const file = join(dir, 'pg_service.conf');
      writeFileSync(file, value.startsWith('[') ? value : '');
      if (value.startsWith('[')) {
        const service = /^\[([^\]]+)\]/.exec(value)![1]!;
        const r = await run('psql', ['-XAtc', 'select current_database()'], { env: clientEnv({ PGSERVICEFILE: file, PGSERVICE: service }) });
        assert.equal(r.code, 0, `${label}: ${r.stderr}`);
        assert.equal(r.stdout.trim(), 'app');
        ran++;
      }
    } else if (/^jdbc:postgresql:/.test(value)) {
      assert.match(value, new RegExp(`^jdbc:postgresql://127\\.0\\.0\\.1:${ports['shop-pg']}/app`), `${label} names the database`);
    }
  }
  assert.ok(ran >= 2, `psql ran ${ran} copied strings: ${JSON.stringify(pgStrings)}`);

  const mariaStrings = await copyAll('shop-maria');
  ran = 0;
  for (const { label, value } of mariaStrings) {
    if (/^(mariadb|mysql) /.test(value)) {
      const r = await sh(`${value} -N -B -e 'select current_user(), database()'`);
      assert.equal(r.code, 0, `${label}: ${value}\n${r.stderr}`);
      assert.match(r.stdout.trim(), new RegExp(`^${maria.users.native.name}@\\S+\\tapp$`));
      ran++;
    } else if (/^jdbc:(mysql|mariadb):/.test(value)) {
      assert.match(value, new RegExp(`:${ports['shop-maria']}/app`), `${label} names the database`);
    }
  }
  assert.ok(ran >= 1, `mariadb ran ${ran} copied strings: ${JSON.stringify(mariaStrings)}`);

  const sshStrings = await copyAll('jump');
  const knownHosts = sshStrings.find((s) => /known_hosts/i.test(s.label));
  const command = sshStrings.find((s) => /^ssh /.test(s.value));
  assert.ok(knownHosts && command, JSON.stringify(sshStrings));
  // The user's ~/.ssh, here a config file: their key and known_hosts with the copied line.
  const khFile = join(dir, 'known_hosts');
  writeFileSync(khFile, `${knownHosts.value}\n`);
  const sshConfig = join(dir, 'ssh_config');
  writeFileSync(sshConfig, `Host *\n  UserKnownHostsFile ${khFile}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n  IdentitiesOnly yes\n  IdentityFile ${clientKey.path}\n`);
  // The copied command, unchanged, with `-F` standing in for the user's ~/.ssh/config.
  const r = await sh(`${command.value.replace(/^ssh /, `ssh -F ${sshConfig} `)} 'echo ok; whoami'`);
  assert.equal(r.code, 0, `${command.value}\n${r.stderr}`);
  assert.equal(r.stdout, `ok\n${sshd.user}\n`);
});

test('wrong password: red in the list with the reason the client got (28P01); fixed by changing just that password', async () => {
  const changed = `${pg.users.scram.password}-rotated`;
  secrets.push(changed);
  await pg.setPassword(pg.users.scram.name, changed);
  const r = await sh(`psql -XAt -h 127.0.0.1 -p ${ports['shop-pg']} -d app -c 'select 1'`);
  assert.notEqual(r.code, 0);
  await health('shop-pg').filter({ hasText: /Credentials rejected: .*password authentication failed/ }).waitFor();
  assert.equal(await row('shop-pg').locator('.dot').getAttribute('class'), 'dot red');
  await page.getByLabel('Sort targets by', { exact: true }).selectOption('health');
  assert.equal(await page.locator('li.target').first().getAttribute('data-target'), 'shop-pg', 'sorted by health: the failing one first');
  await page.screenshot({ path: join(OUT, 'walk-rejected-light.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: join(OUT, 'walk-rejected-dark.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'light' });
  await page.getByLabel('Sort targets by', { exact: true }).selectOption('name');

  // Edit shows the references; only the password is typed again.
  await page.getByRole('button', { name: 'Edit shop-pg' }).click();
  const dialog = page.getByRole('dialog', { name: 'Edit shop-pg' });
  await dialog.waitFor();
  assert.equal(await dialog.getByLabel('Password keychain item', { exact: true }).inputValue(), 'secretless-desktop/shop-pg#password');
  assert.equal(await dialog.getByLabel('User', { exact: true }).inputValue(), pg.users.scram.name);
  assert.equal(await dialog.getByLabel('Password to store in the keychain', { exact: true }).inputValue(), '', 'never the stored value');
  await dialog.getByLabel('Password to store in the keychain', { exact: true }).fill(changed);
  await save(dialog);
  await page.getByRole('button', { name: 'Test connection to shop-pg' }).click();
  await health('shop-pg').filter({ hasText: 'Last login ok' }).waitFor();
  // reports kept its own password all along.
  await page.getByRole('button', { name: 'Test connection to reports' }).click();
  await row('reports').getByTestId('test-result').filter({ hasText: /^Test ok/ }).waitFor();
});

test('database down: "unreachable" in the list; back up, it recovers on the next login', async () => {
  await maria.kill();
  await page.getByRole('button', { name: 'Test connection to shop-maria' }).click();
  await health('shop-maria').filter({ hasText: /Target unreachable/ }).waitFor();
  assert.equal(await row('shop-maria').locator('.dot').getAttribute('class'), 'dot red');
  await page.screenshot({ path: join(OUT, 'walk-unreachable-light.png'), fullPage: true });
});

test('narrow (tray) layout: one line per target, keyboard only', async () => {
  const narrow = await browser.newContext({ colorScheme: 'light', viewport: { width: 420, height: 760 } });
  try {
    const p = await narrow.newPage();
    await p.goto(broker.pageUrl);
    const list = p.getByRole('list', { name: /^Targets/ });
    await list.locator('li.target').first().waitFor();
    assert.ok(await p.locator('ul.targets.compact').count(), 'the compact list');
    for (const li of await list.locator('li.target').all()) {
      const box = (await li.boundingBox())!;
      assert.ok(box.height < 44, `one line per target (${box.height}px)`);
      assert.ok(box.x + box.width <= 420, 'nothing sticks out');
    }
    assert.equal(await p.evaluate(() => document.documentElement.scrollWidth), 420, 'no horizontal scrolling');
    await p.screenshot({ path: join(OUT, 'walk-narrow-light.png'), fullPage: true });
    await p.emulateMedia({ colorScheme: 'dark' });
    await p.screenshot({ path: join(OUT, 'walk-narrow-dark.png'), fullPage: true });
    await p.emulateMedia({ colorScheme: 'light' });

    // `/` focuses the filter, the arrows reach a target, Enter stops and starts it, Escape returns focus.
    await p.getByRole('button', { name: 'Add target' }).focus();
    await p.keyboard.press('/');
    assert.equal(await p.evaluate(() => document.activeElement?.getAttribute('type')), 'search');
    await p.keyboard.type('maria');
    await p.keyboard.press('ArrowDown');
    assert.equal(await p.evaluate(() => document.activeElement?.getAttribute('data-target')), 'shop-maria');
    await p.keyboard.press('Enter');
    await p.locator('li.target[data-target="shop-maria"]').getByRole('button', { name: 'Start shop-maria' }).waitFor();
    await p.keyboard.press('Enter');
    await p.locator('li.target[data-target="shop-maria"]').getByRole('button', { name: 'Stop shop-maria' }).waitFor();
    await p.keyboard.press('/');
    await p.keyboard.press('Escape');
    assert.equal(await p.evaluate(() => document.activeElement?.getAttribute('data-target')), 'shop-maria', 'focus back where it was');
  } finally {
    await narrow.close();
  }
});

test('the broker restarts under the open page: it reconnects by itself, says so, and works', async () => {
  await broker.restart();
  await page.locator('[data-banner="restarted"]').waitFor();
  await health('shop-pg').filter({ hasText: /Listening|Last login ok/ }).waitFor();
  await page.getByRole('button', { name: 'Stop reports' }).click();
  await health('reports').filter({ hasText: 'Stopped' }).waitFor();
  await page.getByRole('button', { name: 'Start reports' }).click();
  await health('reports').filter({ hasText: 'Listening' }).waitFor();
  assert.equal(await page.locator('[data-banner="unauthorized"]').count(), 0);
  await page.screenshot({ path: join(OUT, 'walk-restarted-light.png') });
});

test('delete a target after confirming, with its keychain item; the audit feed reads one row per connection', async () => {
  await page.getByRole('button', { name: 'Delete reports' }).click();
  const dialog = page.getByRole('dialog', { name: 'Delete reports?' });
  await dialog.waitFor();
  await dialog.getByLabel(/Also delete its keychain item/).check();
  await dialog.getByRole('button', { name: 'Delete reports' }).click();
  await dialog.waitFor({ state: 'detached' });
  await row('reports').waitFor({ state: 'detached' });
  await page.getByRole('status').filter({ hasText: 'Removed from the keychain: secretless-desktop/reports#password' }).waitFor();
  assert.doesNotMatch(readFileSync(configPath, 'utf8'), /reports:/);
  const lookup = await run('secret-tool', ['lookup', 'service', 'secretless-desktop/reports', 'username', 'password']);
  assert.equal(lookup.stdout, '', 'the keychain item is gone');

  const feed = page.getByRole('log', { name: 'Audit feed, newest first' });
  await feed.locator('li[data-kind="event"][data-type="service.stopped"][data-target="reports"]').first().waitFor();
  await page.screenshot({ path: join(OUT, 'walk-main-light.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: join(OUT, 'walk-main-dark.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'light' });
});

test('no secret on the page, in any response, in what the broker printed or wrote', async () => {
  const text = [await page.content(), ...responses, broker.output(), readFileSync(configPath, 'utf8'), readFileSync(join(dir, 'state', 'secretless-desktop', 'audit.jsonl'), 'utf8')].join('\n');
  assert.ok(responses.length > 10);
  for (const secret of secrets) assert.ok(!text.includes(secret), 'a secret leaked');
});
