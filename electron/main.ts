// Electron main: app lifecycle and the wiring of the shell's parts. The broker process is
// broker-host.ts, the window window.ts, the IPC relay ipc-relay.ts, the tray tray-host.ts,
// notifications notifications.ts; what they decide lives in plain modules (tray.ts,
// notify.ts, desktop-rules.ts) tested without Electron. test/electron-harness runs this
// file for real under Node with a stand-in `electron` module.
import { app, Menu, powerMonitor, session, shell } from 'electron';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrokerApi, BrokerEvent, BrokerRunState, IdentitySessionInfo, TargetInfo } from '../broker/api.js';
import { createLogFile } from '../broker/log-file.js';
import { brokerArgs } from './broker-args.js';
import { createBrokerHost } from './broker-host.js';
import { allowExternal, allowPermission, appPaths, autostartEntry, autostartPath, launchedHidden, packagedMenuRoles } from './desktop-rules.js';
import { createIpcRelay } from './ipc-relay.js';
import { createNotifications } from './notifications.js';
import { createNotifier } from './notify.js';
import { createTrayHost } from './tray-host.js';
import type { TrayAction } from './tray.js';
import { detectTray } from './tray-detect.js';
import { startUpdates, type Updates } from './updates.js';
import { createAppWindow } from './window.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/electron
const root = join(here, '..', '..');
const paths = appPaths();
// Before anything reads it: Electron's own default would name the folder after productName.
app.setPath('userData', paths.userData);
app.setPath('logs', paths.logs);
const userArgs = process.argv.slice(app.isPackaged ? 1 : 2);

interface Settings {
  notifyMarginMinutes: number;
  /** macOS: keep the Dock icon (default) or run as a tray-only app. */
  showInDock: boolean;
}

function loadSettings(): Settings {
  try {
    const s = JSON.parse(readFileSync(join(paths.userData, 'settings.json'), 'utf8')) as Partial<Settings>;
    return { notifyMarginMinutes: typeof s.notifyMarginMinutes === 'number' ? s.notifyMarginMinutes : 10, showInDock: s.showInDock !== false };
  } catch {
    return { notifyMarginMinutes: 10, showInDock: true };
  }
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  void run();
}

async function run(): Promise<void> {
  if (process.platform === 'win32') app.setAppUserModelId('dev.secretless.desktop');
  await app.whenReady();
  mkdirSync(paths.logs, { recursive: true, mode: 0o700 });
  const mainLog = createLogFile(paths.mainLog);
  const settings = loadSettings();
  if (process.platform === 'darwin' && !settings.showInDock) app.dock?.hide();
  if (app.isPackaged) Menu.setApplicationMenu(Menu.buildFromTemplate(packagedMenuRoles(process.platform).map((roles) => ({ type: 'submenu', submenu: roles.map((role) => ({ role: role as never })) }))));

  let api: BrokerApi | undefined;
  let brokerState: BrokerRunState = { state: 'starting' };
  let targets: TargetInfo[] = [];
  let sessions: IdentitySessionInfo[] = [];
  let quitting: 'no' | 'draining' | 'done' = 'no';
  let suspended = false;
  let offEvents: (() => void) | undefined;
  const loginUrls = new Set<string>();
  const waitingForApi = new Set<(api: BrokerApi | undefined) => void>();
  let updates: Updates | undefined;
  let updateReady: string | undefined;
  let locked = false;
  let approvalsWaiting = new Set<string>();

  // ---- hardening: no remote content, no navigation, no permissions but clipboard writes ----
  session.defaultSession.setPermissionRequestHandler((_wc, permission, done) => done(allowPermission(permission)));
  session.defaultSession.setPermissionCheckHandler((_wc, permission) => allowPermission(permission));
  app.on('web-contents-created', (_e, contents) => {
    const block = (event: { preventDefault(): void }) => event.preventDefault();
    contents.on('will-navigate', block);
    contents.on('will-redirect', block);
    contents.on('will-frame-navigate', block);
    contents.setWindowOpenHandler(({ url }) => {
      // Login pages open in the user's browser; nothing else leaves the app.
      if (allowExternal(url, sessions.map((s) => s.issuer), loginUrls)) void shell.openExternal(url);
      else mainLog.write(`${new Date().toISOString()} WARN  refused to open ${new URL(url).origin}: not a configured issuer's login page\n`);
      return { action: 'deny' };
    });
  });

  const trayAvailable = await detectTray(process.platform);
  const window = createAppWindow({
    preload: join(here, 'preload.cjs'),
    page: join(here, '..', 'ui', 'index.html'),
    icon: join(root, 'build', 'icons', '512x512.png'),
    trayAvailable,
    isQuitting: () => quitting !== 'no',
    onFirstHide: () => notifications.show({ key: 'hidden-once', kind: 'info', title: 'Secretless Desktop is still running', body: 'Your connections stay up. Open the window again from the tray icon.' }),
    log: (line) => mainLog.write(`${new Date().toISOString()} ${line}\n`),
  });

  const notifications = createNotifications({
    onOpen: (at) => window.show(at),
    onLogin: (identity) => void login(identity),
    onApprovalAnswer: (id, answer) => void api?.answerApproval(id, answer, 'notification').catch(() => window.show({ approval: id })),
    onUnseenChanged: () => tray.update(),
  });
  const notifier = createNotifier({ expiryMarginMs: settings.notifyMarginMinutes * 60_000 });

  const login = async (identity: string): Promise<void> => {
    window.show({ identity });
    const start = await api?.login(identity).catch(() => undefined);
    const url = start?.flow === 'authorization_code' ? start.url : start?.verificationUriComplete ?? start?.verificationUri;
    if (url) {
      loginUrls.add(url);
      void shell.openExternal(url);
    }
  };

  const refresh = async (): Promise<void> => {
    if (api) {
      try {
        let lock, prompts;
        [targets, sessions, lock, prompts] = await Promise.all([api.listTargets(), api.listSessions(), api.lockState(), api.listApprovals()]);
        locked = lock.locked;
        approvalsWaiting = new Set(prompts.map((p) => p.id));
      } catch {
        // The broker may be restarting; the next event refreshes again.
      }
    }
    tray.update();
  };

  const relay = createIpcRelay({
    isOurs: (sender, frameUrl) => window.owns(sender, frameUrl),
    api: () => api,
    whenUp: (waitMs) =>
      new Promise((resolve) => {
        const done = (a: BrokerApi | undefined): void => {
          clearTimeout(timer);
          waitingForApi.delete(done);
          resolve(a);
        };
        const timer = setTimeout(() => done(undefined), waitMs);
        waitingForApi.add(done);
      }),
    state: () => brokerState,
    onLoginUrl: (url) => loginUrls.add(url),
    initialEvents: () => {
      const at = window.takePendingFocus();
      return at ? [{ type: 'ui.focus', ...at }] : [];
    },
  });

  /** A program waits: the window comes forward at its prompt; an answer given anywhere takes the notification back. */
  const onApprovalEvent = (event: BrokerEvent): void => {
    if (event.type === 'approval.requested') {
      approvalsWaiting.add(event.approval.id);
      window.show({ approval: event.approval.id });
    } else if (event.type === 'approval.resolved') {
      approvalsWaiting.delete(event.id);
      notifications.close(`approval:${event.id}`);
    } else if (event.type === 'lock.changed') locked = event.lock.locked;
  };

  const onState = (next: BrokerRunState, nextApi: BrokerApi | undefined): void => {
    const previous = brokerState;
    brokerState = next;
    if (nextApi && nextApi !== api) {
      offEvents?.();
      api = nextApi;
      offEvents = api.subscribe((event) => {
        notifications.show(notifier.onEvent(event, targets, Date.now()));
        relay.forward(event);
        onApprovalEvent(event);
        if (event.type !== 'audit') void refresh();
      });
    } else if (next.state === 'starting' || next.state === 'restarting' || next.state === 'stopped') {
      offEvents?.();
      offEvents = undefined;
      api = undefined;
    }
    relay.forward({ type: 'broker.state', status: next });
    // Calls waiting for the broker: answered now it is up, or failed now it will not be soon.
    if (api || next.state === 'config-error' || next.state === 'stopped') for (const w of [...waitingForApi]) w(api);
    if (next.state === 'config-error') {
      notifications.show({ key: `config:${next.reason}`, kind: 'config-error', title: 'The Secretless config has an error', body: `${next.file}${next.line ? `, line ${next.line}` : ''}: ${next.reason}` });
    } else if (next.state === 'restarting' && quitting === 'no' && !suspended) {
      notifications.show({ key: `restart:${Date.now()}`, kind: 'broker-restarted', title: 'The broker stopped and was restarted', body: next.reason });
    } else if (next.state === 'stopped' && previous.state !== 'stopped' && quitting === 'no' && !suspended) {
      notifications.show({ key: `gave-up:${Date.now()}`, kind: 'broker-restarted', title: 'The broker keeps crashing', body: `It was not restarted again. See the logs in ${paths.logs}, then restart the app.` });
    }
    void refresh();
  };

  const args = brokerArgs(userArgs);
  const host = createBrokerHost({
    entry: join(here, 'broker-process.js'),
    args: args.includes('--watch') ? args : [...args, '--watch'],
    logFile: paths.brokerLog,
    stateDir: paths.state,
    onOutput: (chunk) => mainLog.write(chunk),
    onState,
  });

  // ---- tray ----
  const startAtLogin = (): boolean => (process.platform === 'linux' ? autostartEnabled() : app.getLoginItemSettings().openAtLogin);
  const autostartFile = autostartPath(process.env, homedir());
  const autostartEnabled = (): boolean => {
    try {
      readFileSync(autostartFile);
      return true;
    } catch {
      return false;
    }
  };
  const perform = (action: TrayAction): void => {
    switch (action.type) {
      case 'start':
        void api?.startTarget(action.name).then(refresh, (err: Error) => notifications.show({ key: `start:${Date.now()}`, kind: 'failed', target: action.name, title: `Could not start ${action.name}`, body: err.message }));
        return;
      case 'stop':
        void api?.stopTarget(action.name).then(refresh, () => {});
        return;
      case 'copy':
        tray.copy(action.text);
        return;
      case 'open-window':
        window.show();
        return;
      case 'show':
        notifications.clearUnseen(action);
        window.show(action);
        return;
      case 'open-logs':
        void shell.openPath(paths.logs);
        return;
      case 'set-start-at-login':
        if (process.platform === 'linux') {
          if (action.enabled) {
            mkdirSync(dirname(autostartFile), { recursive: true });
            writeFileSync(autostartFile, autostartEntry(app.isPackaged ? [process.execPath] : [process.execPath, join(here, 'main.js')]));
          } else rmSync(autostartFile, { force: true });
        } else app.setLoginItemSettings({ openAtLogin: action.enabled, openAsHidden: true, args: ['--hidden'] });
        tray.update();
        return;
      case 'install-update':
        updates?.install();
        return;
      case 'lock':
      case 'unlock':
        void (action.type === 'lock' ? api?.lock({ by: 'tray' }) : api?.unlock({ by: 'tray' }))?.then(refresh, () => {});
        return;
      case 'quit':
        app.quit();
        return;
    }
  };
  const tray = createTrayHost({
    iconDir: join(root, 'build', 'icons'),
    template: process.platform === 'darwin',
    input: () => ({ targets, sessions, brokerUp: !!api, brokerState, now: Date.now(), startAtLogin: startAtLogin(), unseen: notifications.unseen(), locked, approvalsWaiting: approvalsWaiting.size, ...(updateReady ? { updateReady } : {}) }),
    perform,
    onClick: () => window.show(),
  });
  const expiryCheck = setInterval(() => {
    for (const n of notifier.checkExpiries(targets, sessions, Date.now())) notifications.show(n);
    tray.update();
  }, 30_000);

  // ---- lifecycle ----
  app.on('second-instance', (_e, argv) => {
    // Launching the app again shows it; options for another config cannot apply to the running broker.
    const theirs = brokerArgs(argv.slice(app.isPackaged ? 1 : 2));
    if (theirs.length && theirs.join('\0') !== args.join('\0')) {
      notifications.show({ key: `second:${Date.now()}`, kind: 'info', title: 'Secretless Desktop is already running', body: `Its broker keeps its options; quit it first to start with ${theirs.join(' ')}.` });
    }
    if (!argv.includes('--hidden')) window.show();
  });
  // macOS: a click on the Dock icon reopens the window.
  app.on('activate', () => window.show());
  app.on('window-all-closed', () => {
    // Stay in the tray.
  });
  app.on('before-quit', (event) => {
    if (quitting === 'done') return;
    event.preventDefault();
    if (quitting === 'draining') return;
    quitting = 'draining';
    // Stop accepting, let sessions drain briefly, then quit for real.
    void host.stop(3_000).finally(() => {
      quitting = 'done';
      clearInterval(expiryCheck);
      updates?.stop();
      offEvents?.();
      tray.destroy();
      mainLog.close();
      app.quit();
    });
  });
  // Auto-lock (the broker decides by its settings: lockOnScreenLock, lockOnSleep).
  powerMonitor.on('lock-screen', () => host.autoLock('screen-lock'));
  powerMonitor.on('suspend', () => {
    suspended = true;
    host.autoLock('sleep');
    void host.stop(1_000);
  });
  powerMonitor.on('shutdown', () => app.quit());
  powerMonitor.on('resume', () => {
    // A broker stopped for the sleep starts fresh (sessions refresh as they load); one that
    // kept running (no suspend event) refreshes what its timers slept through.
    if (suspended) {
      suspended = false;
      // A fresh broker holds no approvals; locked it also asks for approval: never services, as lockOnSleep says.
      void host.start().then(() => host.autoLock('sleep'));
    } else host.resume();
    for (const n of notifier.checkExpiries(targets, sessions, Date.now())) notifications.show(n);
    void refresh();
  });

  await host.start();
  const attached = host.attached();
  if (attached) {
    notifications.show({ key: 'attached', kind: 'info', title: 'Using the broker already running', body: `A broker (pid ${attached.pid}) serves ${attached.url}; the app shows and controls it instead of starting a second one.` });
  }
  if (!launchedHidden(userArgs, app.getLoginItemSettings().wasOpenedAtLogin)) window.show();
  updates = await startUpdates({
    packaged: app.isPackaged,
    log: (line) => mainLog.write(`${new Date().toISOString()} ${line}\n`),
    onReady: (version) => {
      updateReady = version;
      tray.update();
    },
  });
}
