// Electron main: app lifecycle, the broker in a utilityProcess, the tray, notifications,
// the window, and the IPC relay between the preload bridge and the broker's BrokerApi.
// Decisions (tray state and menu, notifications, restart policy) live in tray.ts and
// notify.ts; this file only wires them to Electron.
import { app, BrowserWindow, clipboard, ipcMain, Menu, nativeImage, Notification, session, shell, Tray, utilityProcess, type IpcMainInvokeEvent, type MenuItemConstructorOptions, type UtilityProcess, type WebContents } from 'electron';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BrokerApi, BrokerEvent, IdentitySessionInfo, TargetInfo } from '../broker/api.js';
import { createHttpBrokerApi } from '../broker/control/http-client.js';
import { CALL_METHODS, validateArgs } from '../broker/control/validate.js';
import { brokerArgs } from './broker-args.js';
import { createNotifier, type DesktopNotification } from './notify.js';
import { buildTrayMenu, shouldRestartBroker, trayState, trayTooltip, type TrayAction, type TrayMenuItem, type TrayState } from './tray.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/electron
const root = join(here, '..', '..');
const rendererIndex = join(here, '..', 'ui', 'index.html');
const rendererUrl = pathToFileURL(rendererIndex).href;

interface Settings {
  notifyMarginMinutes: number;
}

function loadSettings(): Settings {
  try {
    const s = JSON.parse(readFileSync(join(app.getPath('userData'), 'settings.json'), 'utf8')) as Partial<Settings>;
    return { notifyMarginMinutes: typeof s.notifyMarginMinutes === 'number' ? s.notifyMarginMinutes : 10 };
  } catch {
    return { notifyMarginMinutes: 10 };
  }
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  void run();
}

async function run(): Promise<void> {
  await app.whenReady();
  const settings = loadSettings();
  const notifier = createNotifier({ expiryMarginMs: settings.notifyMarginMinutes * 60_000 });
  let window: BrowserWindow | undefined;
  let tray: Tray | undefined;
  let api: BrokerApi | undefined;
  let child: UtilityProcess | undefined;
  let offEvents: (() => void) | undefined;
  let quitting = false;
  let targets: TargetInfo[] = [];
  let sessions: IdentitySessionInfo[] = [];
  const crashes: number[] = [];
  const subscribers = new Set<WebContents>();

  // No remote content, ever: deny every permission but clipboard writes, and no navigation.
  session.defaultSession.setPermissionRequestHandler((_wc, permission, done) => done(permission === 'clipboard-sanitized-write'));
  app.on('web-contents-created', (_e, contents) => {
    contents.on('will-navigate', (event) => event.preventDefault());
    contents.setWindowOpenHandler(({ url }) => {
      // Login pages (identity sessions) open in the user's browser.
      if (url.startsWith('https://')) void shell.openExternal(url);
      return { action: 'deny' };
    });
  });

  const notify = (n: DesktopNotification | undefined): void => {
    if (n && Notification.isSupported()) new Notification({ title: n.title, body: n.body }).show();
  };

  // ---- broker in a utilityProcess, restarted after a crash ----
  const startBroker = (): void => {
    child = utilityProcess.fork(join(here, 'broker-process.js'), brokerArgs(process.argv.slice(app.isPackaged ? 1 : 2)), {
      serviceName: 'Secretless broker',
      stdio: 'inherit',
      // As bin/secretless-desktop.js: a small young generation keeps idle connections cheap.
      execArgv: ['--max-semi-space-size=2'],
    });
    child.on('message', (message: { type?: string; url?: string; token?: string }) => {
      if (message?.type !== 'control-ready' || !message.url || !message.token) return;
      api = createHttpBrokerApi({ baseUrl: message.url, token: message.token });
      offEvents = api.subscribe(onBrokerEvent);
      void refresh();
    });
    child.on('exit', (code) => {
      offEvents?.();
      offEvents = undefined;
      api = undefined;
      child = undefined;
      updateTray();
      if (quitting) return;
      const now = Date.now();
      crashes.push(now);
      if (shouldRestartBroker(crashes, now)) {
        notify({ key: `restart:${now}`, kind: 'broker-restarted', title: 'The broker stopped and was restarted', body: `It exited with code ${code}. Open connections were closed.` });
        startBroker();
      } else {
        notify({ key: `gave-up:${now}`, kind: 'broker-restarted', title: 'The broker keeps crashing', body: 'It was not restarted again. Check the config, then restart the app.' });
      }
    });
  };

  const onBrokerEvent = (event: BrokerEvent): void => {
    notify(notifier.onEvent(event, targets, Date.now()));
    for (const wc of subscribers) if (!wc.isDestroyed()) wc.send('secretless:event', event);
    if (event.type !== 'audit') void refresh();
  };

  const refresh = async (): Promise<void> => {
    if (!api) return;
    try {
      [targets, sessions] = await Promise.all([api.listTargets(), api.listSessions()]);
    } catch {
      // The broker may be restarting; the next event refreshes again.
    }
    updateTray();
  };

  // ---- IPC relay: one handler per BrokerApi method, arguments re-checked ----
  const fromOurWindow = (event: IpcMainInvokeEvent | Electron.IpcMainEvent): boolean =>
    !!window && event.sender === window.webContents && event.senderFrame?.url.startsWith(rendererUrl) === true;
  for (const method of CALL_METHODS) {
    ipcMain.handle(`secretless:${method}`, async (event, ...args: unknown[]) => {
      if (!fromOurWindow(event)) throw new Error('refused: not the Secretless window');
      if (!api) throw new Error('the broker is starting; try again in a moment');
      const checked = validateArgs(method, args);
      const fn = api[method] as (...a: unknown[]) => Promise<unknown>;
      return fn.apply(api, checked);
    });
  }
  ipcMain.on('secretless:subscribe', (event) => {
    if (!fromOurWindow(event)) return;
    subscribers.add(event.sender);
    event.sender.once('destroyed', () => subscribers.delete(event.sender));
  });
  ipcMain.on('secretless:unsubscribe', (event) => void subscribers.delete(event.sender));

  // ---- window ----
  const showWindow = (): void => {
    if (window && !window.isDestroyed()) {
      window.show();
      window.focus();
      return;
    }
    window = new BrowserWindow({
      width: 1100,
      height: 780,
      show: false,
      title: 'Secretless Desktop',
      icon: join(root, 'build', 'icons', '512x512.png'),
      webPreferences: {
        preload: join(here, 'preload.cjs'),
        contextIsolation: true,
        sandbox: true,
        nodeIntegration: false,
        webSecurity: true,
        spellcheck: false,
      },
    });
    window.once('ready-to-show', () => window?.show());
    window.on('close', (e) => {
      // Closing the window keeps the tray (and the tunnels) running.
      if (!quitting) {
        e.preventDefault();
        window?.hide();
      }
    });
    void window.loadFile(rendererIndex);
  };

  // ---- tray ----
  const icon = (state: TrayState) => nativeImage.createFromPath(join(root, 'build', 'icons', `tray-${state}.png`));
  const perform = (action: TrayAction): void => {
    switch (action.type) {
      case 'start':
        void api?.startTarget(action.name).then(refresh, (err: Error) => notify({ key: 'x', kind: 'failed', title: `Could not start ${action.name}`, body: err.message }));
        return;
      case 'stop':
        void api?.stopTarget(action.name).then(refresh);
        return;
      case 'copy':
        clipboard.writeText(action.text);
        return;
      case 'open-window':
        showWindow();
        return;
      case 'set-start-at-login':
        app.setLoginItemSettings({ openAtLogin: action.enabled });
        updateTray();
        return;
      case 'quit':
        quitting = true;
        app.quit();
        return;
    }
  };
  const toElectron = (items: TrayMenuItem[]): MenuItemConstructorOptions[] =>
    items.map((item): MenuItemConstructorOptions => {
      switch (item.kind) {
        case 'separator':
          return { type: 'separator' };
        case 'label':
          return { label: item.label, enabled: false };
        case 'action':
          return { label: item.label, enabled: item.enabled, click: () => perform(item.action) };
        case 'toggle':
          return { label: item.label, type: 'checkbox', checked: item.checked, enabled: item.enabled, click: () => perform(item.action) };
        case 'submenu':
          return { label: item.label, submenu: toElectron(item.items) };
      }
    });
  const updateTray = (): void => {
    if (!tray) return;
    const input = { targets, sessions, brokerUp: !!api, now: Date.now(), startAtLogin: app.getLoginItemSettings().openAtLogin };
    tray.setImage(icon(trayState(input)));
    tray.setToolTip(trayTooltip(input));
    tray.setContextMenu(Menu.buildFromTemplate(toElectron(buildTrayMenu(input))));
  };

  tray = new Tray(icon('idle'));
  tray.on('click', showWindow);
  updateTray();
  setInterval(() => {
    for (const n of notifier.checkExpiries(targets, sessions, Date.now())) notify(n);
    updateTray();
  }, 30_000);

  app.on('second-instance', showWindow);
  app.on('window-all-closed', () => {
    // Stay in the tray.
  });
  app.on('before-quit', () => {
    quitting = true;
    child?.kill();
  });

  startBroker();
  showWindow();
}
