// The desktop shell's platform behaviour, each through a real launch of main.js in the
// harness (real broker process, real renderer in Chromium): config errors, log files,
// start at login, no tray, macOS, tray menu churn, notification fallback, hardening,
// renderer crashes, and a broker already running in a terminal.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { closeHarness, launchApp, type DesktopApp } from '../electron-harness/harness.js';
import { waitFor } from '../fixtures/wait-for.js';
import { configYaml } from '../fixtures/yaml.js';

after(closeHarness);

/** A config with pg services of these names (their target is down: nothing here logs in). */
const good = (...names: string[]) =>
  configYaml(Object.fromEntries(names.map((n) => [n, { connector: 'pg', credentials: { host: '127.0.0.1', port: 1, username: 'u', password: { from: 'literal', get: 'not-a-real-secret' } } }])));
// Line 5 is `    connector: nosuch`.
const broken = `version: "2"\nservices:\n  db:\n    listenOn: tcp://127.0.0.1:0\n    connector: nosuch\n`;

/** A HOME with the user's config file in place, as the app finds it by default. */
function homeWith(config: string): { home: string; configFile: string } {
  const home = mkdtempSync(join(tmpdir(), 'sl-shell-'));
  const dir = join(home, '.config', 'secretless-desktop');
  mkdirSync(dir, { recursive: true });
  const configFile = join(dir, 'secretless.yml');
  writeFileSync(configFile, config);
  return { home, configFile };
}

async function withApp(options: Parameters<typeof launchApp>[0], fn: (app: DesktopApp) => Promise<void>): Promise<void> {
  const app = await launchApp(options);
  try {
    await fn(app);
  } finally {
    await app.close();
  }
}

test('an invalid config at start: one notification naming the file and line, the broker waits for the fix (no restart loop), then serves', async () => {
  const { home, configFile } = homeWith(broken);
  await withApp({ home }, async (app) => {
    const n = await app.until('the config notification', () => app.notifications().find((x) => /config has an error/.test(x.title)));
    assert.match(n.body, /secretless\.yml, line 5: services\.db\.connector: unknown connector 'nosuch'/);
    await app.until('the tray says so', () => /config error \(line 5\)/.test(app.tray.tooltip()));
    assert.match(app.tray.labels()[1]!, /^Config error: services\.db\.connector/);
    const page = await app.page();
    const error = await page.evaluate(() => (window as unknown as { secretless: { listTargets(): Promise<unknown> } }).secretless.listTargets().then(() => '', (e: Error) => e.message));
    assert.match(error, /the config has an error .* fix .*secretless\.yml/);
    writeFileSync(configFile, good('db'));
    await app.until('db running', () => app.tray.labels().includes('db: running'));
    assert.equal(app.brokers().length, 1, 'one broker process, never restarted');
    assert.equal(app.notifications().filter((x) => /config|broker/.test(x.title)).length, 1, app.notifications().map((x) => x.title).join(' | '));
    // The broker's console output goes nowhere a desktop session would log it, and the
    // control token is in no log file.
    const token = JSON.parse(readFileSync(join(app.stateDir, 'control.json'), 'utf8')).token as string;
    const logs = join(app.stateDir, 'logs');
    for (const f of readdirSync(logs)) {
      assert.equal(statSync(join(logs, f)).mode & 0o777, 0o600, f);
      assert.ok(!readFileSync(join(logs, f), 'utf8').includes(token), `${f} holds the control token`);
    }
    assert.match(readFileSync(join(logs, 'broker.log'), 'utf8'), /ERROR the config is invalid/);
    assert.equal(app.brokers()[0]!.options.stdio, 'pipe');
    app.tray.click('Open logs');
    assert.deepEqual(app.state.opened.at(-1), { type: 'path', url: logs });
  });
});

test('start at login on Linux: an XDG autostart entry that starts the app hidden; launched with it, no window opens', async () => {
  const { home } = homeWith(good('db'));
  const entry = join(home, '.config', 'autostart', 'secretless-desktop.desktop');
  await withApp({ home }, async (app) => {
    await app.until('the tray', () => app.tray.labels().includes('db: running'));
    app.tray.click('Start at login');
    assert.match(readFileSync(entry, 'utf8'), /^Exec=.* --hidden$/m);
    await app.until('the menu checks it', () => app.tray.item('Start at login').checked);
    app.tray.click('Start at login');
    assert.equal(existsSync(entry), false);
  });
  await withApp({ home, args: ['--hidden'] }, async (app) => {
    await app.until('the tray', () => app.tray.labels().includes('db: running'));
    assert.equal(app.window(), undefined, 'no window when started at login');
    app.tray.click('Open window');
    await app.until('the window', () => app.window()?.isVisible());
  });
});

test('a notification clicked while no window is open opens one at its target', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as { port: number }).port;
  const { home } = homeWith(good('db').replace('tcp://127.0.0.1:0', `tcp://127.0.0.1:${port}`));
  try {
    await withApp({ home, args: ['--hidden'] }, async (app) => {
      await app.until('db failed in the tray', () => app.tray.labels().includes('db: failed'));
      app.tray.click('db', 'Start');
      const n = await app.until('the failure notification', () => app.notifications().find((x) => /db/.test(x.title)));
      assert.equal(app.window(), undefined);
      n.click();
      const w = await app.until('the window', () => app.window());
      await app.until('the page told to show db', () => w.webContents.sent.some((s) => JSON.stringify(s.args[0]) === JSON.stringify({ type: 'ui.focus', target: 'db' })));
      assert.equal(w.loaded?.hash, 'target=db');
    });
  } finally {
    busy.close();
  }
});

test('no tray host on the session bus (GNOME without AppIndicator): closing the window minimises it instead of hiding the app', async () => {
  const { home } = homeWith(good('db'));
  await withApp({ home }, async (app) => {
    const w = await app.until('the window', () => (app.window()?.isVisible() ? app.window() : undefined));
    w.close();
    assert.equal(w.isDestroyed(), false);
    assert.equal(w.isMinimized(), true);
    assert.equal(w.isVisible(), true);
    app.secondInstance([process.execPath, 'main.js']);
    assert.equal(w.isMinimized(), false, 'launching the app again brings it back');
  });
});

test('macOS: Template tray icons, the Dock icon hidden in tray-only mode, a Dock click reopens the window', async () => {
  const { home } = homeWith(good('db'));
  const userData = join(home, 'Library', 'Application Support', 'secretless-desktop');
  mkdirSync(userData, { recursive: true });
  writeFileSync(join(userData, 'settings.json'), JSON.stringify({ showInDock: false }));
  await withApp({ home, platform: 'darwin' }, async (app) => {
    await app.until('the tray', () => app.tray.labels().some((l) => l.startsWith('db')));
    const icon = app.tray.icon();
    assert.match(icon.path, /tray-\w+Template\.png$/);
    assert.equal(icon.template, true);
    assert.ok(existsSync(icon.path), icon.path);
    assert.equal(app.state.dockVisible, false);
    const w = await app.until('the window', () => (app.window()?.isVisible() ? app.window() : undefined));
    w.close();
    assert.equal(w.isVisible(), false, 'closing hides it (the menu bar icon reopens it)');
    app.emitApp('activate');
    assert.equal(w.isVisible(), true);
  });
});

test('Windows: the AppUserModelId is set, so toasts show and their clicks reach the app', async () => {
  const { home } = homeWith(good('db'));
  await withApp({ home, platform: 'win32' }, async (app) => {
    await app.until('the tray', () => app.tray.labels().some((l) => l.startsWith('db')));
    assert.equal(app.state.appUserModelId, 'dev.secretless.desktop');
  });
});

test('the tray menu is rebuilt only when its content changes', async () => {
  const { home, configFile } = homeWith(good('db'));
  await withApp({ home }, async (app) => {
    await app.until('db running', () => app.tray.labels().includes('db: running'));
    const sets = app.tray.menuSets();
    const window = await app.until('the window', () => app.window());
    const applied = () => window.webContents.sent.filter((s) => JSON.stringify(s.args[0]) === JSON.stringify({ type: 'broker.state', status: { state: 'running' } })).length;
    // A reload that changes nothing the menu shows (a comment): events, refreshes, no new menu.
    const before = applied();
    writeFileSync(configFile, `# a comment\n${good('db')}`);
    await app.until('the reload', () => applied() > before);
    writeFileSync(configFile, `# a comment\n${good('db', 'other')}`);
    await app.until('other in the menu', () => app.tray.labels().includes('other: running'));
    assert.equal(app.tray.menuSets(), sets + 1, 'one rebuild: the one change the user can see');
  });
});

test('notifications the OS cannot show stay in the tray menu; clicking opens the window at the target', async () => {
  const { home, configFile } = homeWith(good('db'));
  await withApp({ home, notificationsSupported: false }, async (app) => {
    await app.until('db running', () => app.tray.labels().includes('db: running'));
    writeFileSync(configFile, broken);
    await app.until('the config error in the menu', () => app.tray.labels().some((l) => l.startsWith('The Secretless config has an error')));
    assert.equal(app.notifications().length, 0);
    app.tray.click('The Secretless config has an error');
    await app.until('the window', () => app.window()?.isVisible());
  });
});

test('hardening: permissions, navigation, window.open, IPC from elsewhere, packaged menu, renderer crash', async () => {
  const { home } = homeWith(good('db'));
  await withApp({ home, packaged: true }, async (app) => {
    await app.until('db running', () => app.tray.labels().includes('db: running'));
    const s = app.state;
    // One naming rule: packaged (productName "Secretless Desktop"), userData is still the broker's config dir.
    assert.equal(s.paths.userData, app.configDir);
    assert.equal(s.permissionCheck?.({}, 'media', 'file://', {}), false);
    assert.equal(s.permissionCheck?.({}, 'clipboard-sanitized-write', 'file://', {}), true);
    const roles = JSON.stringify(s.applicationMenu);
    assert.doesNotMatch(roles, /reload|toggleDevTools|forceReload/i);
    assert.match(roles, /"role":"copy"/);
    const page = await app.page();
    const url = page.url();
    await page.evaluate(() => void (location.href = 'http://example.invalid/phish'));
    await page.evaluate(() => void window.open('https://example.invalid/login'));
    await page.getByText('db', { exact: true }).first().waitFor();
    assert.equal(page.url(), url, 'the window stays on the app');
    assert.ok(!s.opened.some((o) => o.url.includes('example.invalid')), 'not a configured issuer: not opened');
    const handler = s.handlers.get('secretless:listTargets')!;
    await assert.rejects(async () => handler({ sender: {}, senderFrame: { url: 'https://example.invalid/' } }), /refused: not the Secretless window/);
    const first = app.window()!;
    await first.webContents.crash();
    await app.until('a new window after the crash', () => app.window() !== first && app.window()?.isVisible());
    await (await app.page()).getByText('db', { exact: true }).first().waitFor();
  });
});

/** `serve --ui` started in a terminal with the user's config, up once its control file exists. */
async function terminalBroker(home: string, configFile: string) {
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_STATE_HOME: join(home, '.local', 'state') };
  const bin = join(process.cwd(), 'bin', 'secretless-desktop.js');
  const terminal = spawn(process.execPath, [bin, 'serve', '--ui', '-f', configFile], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  // What serve said on stderr, for the failure message if it exits at start.
  let stderr = '';
  terminal.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise((r) => terminal.once('exit', r));
  const control = join(home, '.local', 'state', 'secretless-desktop', 'control.json');
  try {
    await waitFor('serve --ui to write its control file', () => {
      if (terminal.exitCode !== null) throw new Error(`serve --ui exited with ${terminal.exitCode}: ${stderr}`);
      return existsSync(control);
    }, 60_000);
  } catch (err) {
    terminal.kill('SIGKILL');
    throw err;
  }
  return { terminal, exited };
}

test('a broker already running in a terminal: the app attaches to it instead of starting a second one', async () => {
  const { home, configFile } = homeWith(good('db'));
  const { terminal, exited } = await terminalBroker(home, configFile);
  try {
    await withApp({ home }, async (app) => {
      await app.until('db in the tray', () => app.tray.labels().includes('db: running'));
      assert.equal(app.brokers().length, 0, 'no second broker');
      const n = app.notifications().find((x) => x.title === 'Using the broker already running');
      assert.ok(n, app.notifications().map((x) => x.title).join(' | '));
      assert.match(n.body, new RegExp(`pid ${terminal.pid}`));
      app.secondInstance([process.execPath, 'main.js', '-f', '/elsewhere.yml']);
      assert.ok(app.notifications().some((x) => x.title === 'Secretless Desktop is already running' && x.body.includes('-f /elsewhere.yml')));
      await app.quit();
    });
    assert.equal(terminal.exitCode, null, 'quitting the app leaves the terminal broker running');
  } finally {
    terminal.kill('SIGTERM');
    await exited;
  }
});

test('quit is bounded: a broker that answers neither the stop message nor SIGTERM is killed, and the app exits', async () => {
  const { home } = homeWith(good('db'));
  await withApp({ home }, async (app) => {
    await app.until('db running', () => app.tray.labels().includes('db: running'));
    const broker = app.brokers()[0]!;
    // Stopped: it cannot drain, answer the stop message or act on SIGTERM.
    process.kill(broker.child.pid!, 'SIGSTOP');
    const quit = app.quit();
    const bound = new Promise<'stuck'>((r) => setTimeout(() => r('stuck'), 60_000).unref());
    assert.equal(await Promise.race([quit.then(() => 'quit' as const), bound]), 'quit', 'the app quit');
    assert.notEqual(await broker.exited, 0, 'the broker was killed');
    assert.equal(broker.child.signalCode, 'SIGKILL');
  });
});

test('the terminal broker the app attached to exits: the app starts its own and the target comes back', async () => {
  const { home, configFile } = homeWith(good('db'));
  const { terminal, exited } = await terminalBroker(home, configFile);
  try {
    await withApp({ home }, async (app) => {
      await app.until('db in the tray', () => app.tray.labels().includes('db: running'));
      assert.equal(app.brokers().length, 0, 'attached, no broker of its own');
      terminal.kill('SIGTERM');
      await exited;
      await app.until('a broker of its own', () => app.brokers().length === 1);
      await app.until('db running again', () => app.tray.labels().includes('db: running'));
      const page = await app.page();
      const names = await page.evaluate(() => (window as unknown as { secretless: { listTargets(): Promise<{ name: string }[]> } }).secretless.listTargets().then((t) => t.map((x) => x.name)));
      assert.deepEqual(names, ['db']);
    });
  } finally {
    terminal.kill('SIGKILL');
  }
});
