// The one window: created on first show, loaded from the built renderer on disk, hardened
// (contextIsolation, sandbox, no nodeIntegration), kept when closed (hidden to the tray,
// or minimised when there is no tray to bring it back from), recreated after a renderer
// crash. show({ target }) opens it at a target or identity session.
import { BrowserWindow, type WebContents } from 'electron';
import { pathToFileURL } from 'node:url';
import { closeAction } from './desktop-rules.js';

export interface AppWindowOptions {
  preload: string;
  page: string;
  icon: string;
  trayAvailable: boolean;
  isQuitting(): boolean;
  onFirstHide(): void;
  log(line: string): void;
}

export interface Focus {
  target?: string;
  identity?: string;
  /** An approval prompt to bring forward. */
  approval?: string;
}

export interface AppWindow {
  show(at?: Focus): void;
  /** True for IPC from our window's own page (not a frame or page it navigated to). */
  owns(sender: WebContents, frameUrl: string | undefined): boolean;
  contents(): WebContents | undefined;
  /** Where a window opened by show(at) should go, once its page listens (taken once). */
  takePendingFocus(): Focus | undefined;
}

const focusHash = (at: Focus | undefined): string | undefined =>
  at?.target ? `target=${encodeURIComponent(at.target)}` : at?.identity ? `identity=${encodeURIComponent(at.identity)}` : undefined;

export function createAppWindow(options: AppWindowOptions): AppWindow {
  const pageUrl = pathToFileURL(options.page).href;
  let win: BrowserWindow | undefined;
  let hiddenOnce = false;
  let pendingFocus: Focus | undefined;
  const crashes: number[] = [];

  function create(at: Focus | undefined): BrowserWindow {
    const w = new BrowserWindow({
      width: 1100,
      height: 780,
      show: false,
      title: 'Secretless Desktop',
      icon: options.icon,
      webPreferences: { preload: options.preload, contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true, spellcheck: false },
    });
    w.once('ready-to-show', () => w.show());
    w.on('close', (e) => {
      if (options.isQuitting()) return;
      // Closing keeps the app (and its tunnels) running.
      e.preventDefault();
      if (closeAction(options.trayAvailable) === 'minimize') return w.minimize();
      w.hide();
      if (!hiddenOnce) options.onFirstHide();
      hiddenOnce = true;
    });
    w.webContents.on('render-process-gone', (_e, details) => {
      options.log(`ERROR the window's renderer is gone (${details.reason}); reopening it`);
      const now = Date.now();
      crashes.push(now);
      const wasVisible = w.isVisible();
      win = undefined;
      w.destroy();
      // Reopen unless it keeps crashing (3 times a minute): then the tray still opens it on demand.
      if (wasVisible && crashes.filter((t) => now - t < 60_000).length < 3) show();
    });
    const hash = focusHash(at);
    // Rejects when the load is cut short (the window closed or quit meanwhile): not an error worth more than a log line.
    w.loadFile(options.page, hash ? { hash } : {}).catch((err: Error) => options.log(`WARN  the window's page did not load: ${err.message}`));
    return w;
  }

  function show(at?: Focus): void {
    if (win && !win.isDestroyed()) {
      if (win.isMinimized()) win.restore();
      win.show();
      win.focus();
      if (at) win.webContents.send('secretless:event', { type: 'ui.focus', ...at });
      return;
    }
    pendingFocus = at;
    win = create(at);
  }

  return {
    show,
    owns: (sender, frameUrl) => !!win && !win.isDestroyed() && sender === win.webContents && frameUrl?.split('#')[0] === pageUrl,
    contents: () => (win && !win.isDestroyed() ? win.webContents : undefined),
    takePendingFocus() {
      const f = pendingFocus;
      pendingFocus = undefined;
      return f;
    },
  };
}
