// Runs the real compiled Electron main process (dist/electron/main.js) under Node with
// the stand-in `electron` module (standin.ts), in this test process: one launch per
// call, each with its own HOME/XDG dirs. The returned handle reads and drives what a
// user sees and does: the tray (menu, tooltip, icon; click an item), notifications (see,
// click), the window (a real Chromium page), power events, a second launch, quit.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import Module, { register } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { HarnessWindow } from './page.js';
import { preloadScript } from './page.js';
import { fileExists, quitSequence, setHarnessState, type HarnessState, type LaunchOptions, type MenuItemRecord, type NotificationRecord } from './state.js';
import type { HarnessUtility } from './utility.js';

const DIST = join(fileURLToPath(import.meta.url), '..', '..', '..'); // dist/
export const MAIN_JS = join(DIST, 'electron', 'main.js');
// --allow-file-access-from-files: Electron lets a page loaded with loadFile() load its own
// module scripts from file://; plain Chromium refuses them (null origin) without it.
const BROWSER_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-sync', '--allow-file-access-from-files'];

let registered = false;
let browser: Browser | undefined;
let launches = 0;

export interface LaunchAppOptions extends Partial<LaunchOptions> {
  /** Command-line arguments after the app's own (e.g. ['-f', config]). */
  args?: string[];
  /** HOME for this launch (default a new temp dir); XDG config/state dirs go inside it. */
  home?: string;
  /** Packaged: process.resourcesPath (app-update.yml lives there); default an empty temp dir. */
  resourcesPath?: string;
}

const MODULE_KEY = Symbol.for('secretless.electron-harness.module');

/**
 * CommonJS packages main.js loads (electron-updater) `require('electron')`, which the ESM
 * loader hook does not see on Node 20: resolve it to a file handing out the same stand-in.
 */
async function hookRequire(): Promise<void> {
  (globalThis as Record<symbol, unknown>)[MODULE_KEY] = await import('./standin.js');
  const shim = join(mkdtempSync(join(tmpdir(), 'sl-electron-cjs-')), 'electron.cjs');
  writeFileSync(shim, `module.exports = globalThis[Symbol.for('secretless.electron-harness.module')];\n`);
  const M = Module as unknown as { _resolveFilename(request: string, ...rest: unknown[]): string };
  const resolve = M._resolveFilename;
  M._resolveFilename = function (request: string, ...rest: unknown[]) {
    return request === 'electron' ? shim : resolve.call(this, request, ...rest);
  };
}

export interface DesktopApp {
  state: HarnessState;
  home: string;
  /** The broker's config dir and state dir under this launch's HOME. */
  configDir: string;
  stateDir: string;
  tray: {
    menu(): MenuItemRecord[];
    tooltip(): string;
    icon(): { path: string; template: boolean };
    menuSets(): number;
    /** The item at this path of labels (each a string prefix or a RegExp). */
    item(...path: (string | RegExp)[]): MenuItemRecord;
    click(...path: (string | RegExp)[]): void;
    labels(items?: MenuItemRecord[]): string[];
  };
  notifications(): NotificationRecord[];
  window(): HarnessWindow | undefined;
  page(): Promise<Page>;
  brokers(): HarnessUtility[];
  power(event: 'suspend' | 'resume' | 'shutdown' | 'lock-screen'): void;
  secondInstance(argv: string[]): void;
  emitApp(event: string, ...args: unknown[]): void;
  /** Waits until `check` returns a truthy value (polled); fails with `what` after the timeout. */
  until<T>(what: string, check: () => T | Promise<T>, timeoutMs?: number): Promise<NonNullable<T>>;
  /** Quits as the tray's Quit does and waits for the app to exit. */
  quit(): Promise<void>;
  /** Ends the launch whatever state it is in (test cleanup). */
  close(): Promise<void>;
}

export async function launchApp(options: LaunchAppOptions = {}): Promise<DesktopApp> {
  if (!registered) {
    register(new URL('./loader.js', import.meta.url));
    await hookRequire();
    registered = true;
  }
  browser ??= await chromium.launch({ executablePath: '/usr/bin/chromium', args: BROWSER_ARGS });
  const home = options.home ?? mkdtempSync(join(tmpdir(), 'sl-electron-'));
  process.env.HOME = home;
  process.env.XDG_CONFIG_HOME = join(home, '.config');
  process.env.XDG_STATE_HOME = join(home, '.local', 'state');
  process.env.XDG_CACHE_HOME = join(home, '.cache');
  (process as { resourcesPath?: string }).resourcesPath = options.resourcesPath ?? mkdtempSync(join(tmpdir(), 'sl-resources-'));
  const name = options.packaged ? 'Secretless Desktop' : 'secretless-desktop';
  let exit!: () => void;
  const exited = new Promise<void>((resolve) => (exit = resolve));
  const s: HarnessState = {
    options: {
      packaged: options.packaged ?? false,
      platform: options.platform ?? process.platform,
      singleInstanceLock: options.singleInstanceLock ?? true,
      version: options.version ?? '0.1.0',
      name,
      notificationsSupported: options.notificationsSupported ?? true,
      openedAtLogin: options.openedAtLogin ?? false,
      dialogResponse: options.dialogResponse ?? 0,
    },
    browser,
    rendererPreload: preloadScript(readFileSync(join(DIST, 'electron', 'preload.cjs'), 'utf8')),
    // Electron's defaults on Linux: appData is XDG_CONFIG_HOME, userData appData/<name>.
    paths: {
      home,
      appData: process.env.XDG_CONFIG_HOME,
      userData: join(process.env.XDG_CONFIG_HOME, name),
      logs: join(process.env.XDG_CONFIG_HOME, name, 'logs'),
      temp: tmpdir(),
      exe: process.execPath,
    },
    ready: Promise.resolve(),
    loginItem: { openAtLogin: false },
    dockVisible: true,
    quitRequested: 0,
    onExit: () => exit(),
    handlers: new Map(),
    notifications: [],
    windows: [],
    utilities: [],
    opened: [],
    clipboard: '',
    netRequests: [],
    dialogs: [],
    fileExists,
    runQuit: (appEmitter) => (s.quitting = quitSequence(s, appEmitter)),
  };
  setHarnessState(s);
  // main.js asks process.platform itself: a launch "on macOS" overrides it until close().
  const realPlatform = Object.getOwnPropertyDescriptor(process, 'platform')!;
  if (options.platform && options.platform !== process.platform) Object.defineProperty(process, 'platform', { value: options.platform, configurable: true });
  const { app, ipcMain, powerMonitor } = await import('./standin.js');
  // A previous launch's listeners belong to a main.js that has quit.
  for (const e of [app, ipcMain, powerMonitor]) e.removeAllListeners();
  s.ipcMain = ipcMain;
  s.powerMonitor = powerMonitor;
  process.argv = options.packaged ? [join(home, 'secretless-desktop'), ...(options.args ?? [])] : [process.execPath, MAIN_JS, ...(options.args ?? [])];
  // A fresh evaluation of main.js per launch (its imports are stateless and stay cached).
  await import(`${pathToFileURL(MAIN_JS).href}?launch=${++launches}`);

  const findIn = (items: MenuItemRecord[], path: (string | RegExp)[]): MenuItemRecord => {
    const [head, ...rest] = path;
    const match = items.find((i) => (typeof head === 'string' ? i.label.startsWith(head) : head!.test(i.label)));
    if (!match) throw new Error(`no tray menu item ${String(head)} in [${items.map((i) => i.label).join(' | ')}]`);
    return rest.length ? findIn(match.submenu ?? [], rest) : match;
  };
  const until = async <T,>(what: string, check: () => T | Promise<T>, timeoutMs = 60_000): Promise<NonNullable<T>> => {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await check();
        if (v) return v as NonNullable<T>;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const tray = () => {
    if (!s.tray) throw new Error('the app has no tray icon');
    return s.tray;
  };
  const handle: DesktopApp = {
    state: s,
    home,
    configDir: join(process.env.XDG_CONFIG_HOME, 'secretless-desktop'),
    stateDir: join(process.env.XDG_STATE_HOME, 'secretless-desktop'),
    tray: {
      menu: () => tray().menu,
      tooltip: () => tray().tooltip,
      icon: () => ({ path: tray().image.path, template: tray().image.template }),
      menuSets: () => tray().menuSets,
      item: (...path) => findIn(tray().menu, path),
      click(...path) {
        const item = findIn(tray().menu, path);
        if (!item.enabled) throw new Error(`tray menu item '${item.label}' is disabled`);
        if (!item.click) throw new Error(`tray menu item '${item.label}' does nothing when clicked`);
        item.click();
      },
      labels: (items) => (items ?? tray().menu).map((i) => (i.type === 'separator' ? '---' : i.label)),
    },
    notifications: () => s.notifications,
    window: () => s.windows.filter((w) => !w.isDestroyed()).at(-1),
    async page() {
      // A page evaluated while main's loadFile is still navigating loses its context: wait for the load.
      const w = await until('the window with its page loaded', () => { const w = handle.window(); return w && !w.webContents.isLoading() ? w : undefined; });
      return w.page();
    },
    brokers: () => s.utilities,
    power: (event) => s.powerMonitor!.emit(event),
    secondInstance: (argv) => app.emit('second-instance', { preventDefault() {} }, argv, process.cwd(), null),
    emitApp: (event, ...args) => app.emit(event, { preventDefault() {} }, ...args),
    until,
    async quit() {
      app.quit();
      await exited;
    },
    async close() {
      if (!s.exited) {
        app.quit();
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      }
      for (const u of s.utilities) u.child.kill('SIGKILL');
      for (const w of s.windows) if (!w.isDestroyed()) w.destroy();
      Object.defineProperty(process, 'platform', realPlatform);
    },
  };
  return handle;
}

/** Closes the shared Chromium (after the last launch of a test file). */
export async function closeHarness(): Promise<void> {
  await browser?.close();
  browser = undefined;
}
