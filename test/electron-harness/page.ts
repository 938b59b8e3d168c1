// BrowserWindow and webContents backed by a real Chromium page (playwright-core): the real
// built renderer is loaded from disk, the real compiled preload (dist/electron/preload.cjs)
// runs before the page's scripts with `require('electron')` answering contextBridge and
// ipcRenderer, and every ipcRenderer call goes through a page binding to the handlers
// main.js registered on the stand-in ipcMain, with the sender and the calling frame's URL
// as Electron gives them. Navigation, window.open and renderer crashes raise the events
// Electron raises, so main's guards run against a real page.
//
// Not faithful (needs a real Electron): the preload runs in the page's main world, not an
// isolated one; no real sandbox; will-redirect is never raised (Chromium's redirects are
// not visible to playwright routing); window geometry and native chrome are not rendered.
import type * as E from 'electron';
import { EventEmitter } from 'node:events';
import { pathToFileURL } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { preventable, type HarnessState } from './state.js';
import { app } from './standin.js';

let nextId = 1;

type WindowSurface = Pick<E.BrowserWindow, 'show' | 'hide' | 'focus' | 'isVisible' | 'isDestroyed' | 'minimize' | 'isMinimized' | 'restore' | 'close' | 'destroy' | 'removeMenu'>;
type WebContentsSurface = Pick<E.WebContents, 'send' | 'isDestroyed' | 'isLoading' | 'setWindowOpenHandler' | 'id'>;

export interface HarnessWebContents extends WebContentsSurface, EventEmitter {
  /** Everything main sent to the page (channel and arguments). */
  sent: { channel: string; args: unknown[] }[];
  page(): Promise<Page>;
  /** Kills the renderer process (CDP Page.crash), as a GPU or OOM crash would. */
  crash(): Promise<void>;
}

export interface HarnessWindow extends WindowSurface, EventEmitter {
  webContents: HarnessWebContents;
  options: E.BrowserWindowConstructorOptions;
  /** The file main loaded and the hash it asked for. */
  loaded?: { file: string; hash?: string };
  loadFile(file: string, options?: { hash?: string; query?: Record<string, string> }): Promise<void>;
  /** The quit sequence's close: false when main prevented it. */
  closeForQuit(): Promise<boolean>;
  page(): Promise<Page>;
}

export function createWindow(options: E.BrowserWindowConstructorOptions, s: HarnessState): HarnessWindow {
  const id = nextId++;
  let destroyed = false;
  let visible = options.show !== false;
  let minimized = false;
  let openHandler: Parameters<E.WebContents['setWindowOpenHandler']>[0] | undefined;
  let loadingUrl: string | undefined;
  let loaded = false;

  const wc = Object.assign(new EventEmitter(), {
    id,
    sent: [] as { channel: string; args: unknown[] }[],
    isDestroyed: () => destroyed,
    // True until main's loadFile has finished (also before main asked for one).
    isLoading: () => !loaded,
    setWindowOpenHandler: (handler: Parameters<E.WebContents['setWindowOpenHandler']>[0]) => void (openHandler = handler),
    send(channel: string, ...args: unknown[]) {
      if (destroyed) throw new Error('Object has been destroyed');
      wc.sent.push({ channel, args });
      if (!loaded) return; // as Electron: nothing listens before the page has loaded
      void pageReady.then((p) => p.evaluate(([c, a]) => (window as unknown as { __harnessDeliver?: (c: string, a: unknown[]) => void }).__harnessDeliver?.(c, a), [channel, args] as const)).catch(() => {});
    },
    page: () => pageReady,
    async crash() {
      const p = await pageReady;
      const cdp = await p.context().newCDPSession(p);
      await cdp.send('Page.crash').catch(() => {});
    },
  }) as unknown as HarnessWebContents;

  const contextReady: Promise<BrowserContext> = s.browser.newContext({ viewport: { width: Number(options.width ?? 1100), height: Number(options.height ?? 780) } });
  const pageReady: Promise<Page> = contextReady.then(async (context) => {
    await context.exposeBinding('__harnessIpc', async (source, kind: 'invoke' | 'send', channel: string, args: unknown[]) => {
      const event = { sender: wc, senderFrame: { url: source.frame.url(), name: source.frame.name(), top: null }, processId: 1, frameId: 1, returnValue: undefined, reply() {} };
      if (kind === 'send') {
        s.ipcMain?.emit(channel, event, ...args);
        return undefined;
      }
      const handler = s.handlers.get(channel);
      if (!handler) throw new Error(`Error invoking remote method '${channel}': Error: No handler registered for '${channel}'`);
      try {
        return await handler(event, ...args);
      } catch (err) {
        throw new Error(`Error invoking remote method '${channel}': Error: ${(err as Error).message}`);
      }
    });
    await context.exposeBinding('__harnessOpen', async (_source, url: string, frameName: string, features: string) => {
      const result = openHandler?.({ url, frameName, features, disposition: 'new-window', referrer: { url: '', policy: 'default' }, postBody: undefined as never }) ?? { action: 'allow' as const };
      return result.action;
    });
    if (options.webPreferences?.preload) await context.addInitScript({ content: s.rendererPreload });
    const page = await context.newPage();
    page.on('crash', () => wc.emit('render-process-gone', preventable(), { reason: 'crashed', exitCode: 139 }));
    page.on('close', () => {
      destroyed = true;
      wc.emit('destroyed');
    });
    // Navigations the page starts (not main's loadFile) go past will-frame-navigate and will-navigate first.
    await page.route('**/*', async (route) => {
      const req = route.request();
      // Requests carry no #fragment: compare main's own load without it.
      if (!req.isNavigationRequest() || req.url() === loadingUrl?.split('#')[0]) return route.continue();
      const isMain = req.frame() === page.mainFrame();
      const frameEvent = preventable({ url: req.url(), isMainFrame: isMain });
      wc.emit('will-frame-navigate', frameEvent);
      const navEvent = preventable({ url: req.url() });
      if (isMain) wc.emit('will-navigate', navEvent, req.url());
      return frameEvent.defaultPrevented || navEvent.defaultPrevented ? route.abort('aborted') : route.continue();
    });
    return page;
  });

  // A window closed (or the app quit) before its page existed: callers still see the rejection.
  pageReady.catch(() => {});

  const win = Object.assign(new EventEmitter(), {
    webContents: wc,
    options,
    loaded: undefined as HarnessWindow['loaded'],
    page: () => pageReady,
    show() {
      visible = true;
      minimized = false;
    },
    hide() {
      visible = false;
    },
    focus() {
      visible = true;
    },
    minimize() {
      minimized = true;
    },
    isMinimized: () => minimized,
    restore() {
      minimized = false;
    },
    isVisible: () => visible && !destroyed,
    isDestroyed: () => destroyed,
    removeMenu() {},
    async loadFile(file: string, opts: { hash?: string } = {}) {
      win.loaded = { file, ...(opts.hash ? { hash: opts.hash } : {}) };
      const url = pathToFileURL(file).href + (opts.hash ? `#${opts.hash}` : '');
      loadingUrl = url;
      const page = await pageReady;
      loaded = false;
      await page.goto(url, { waitUntil: 'load' });
      loaded = true;
      wc.emit('did-finish-load');
      win.emit('ready-to-show');
    },
    close() {
      void closeWith(preventable());
    },
    async closeForQuit() {
      return closeWith(preventable());
    },
    destroy() {
      void destroyNow();
    },
  }) as unknown as HarnessWindow;

  async function closeWith(event: ReturnType<typeof preventable>): Promise<boolean> {
    if (destroyed) return true;
    win.emit('close', event);
    if (event.defaultPrevented) return false;
    await destroyNow();
    return true;
  }
  async function destroyNow(): Promise<void> {
    if (destroyed) return;
    destroyed = true;
    const page = await pageReady;
    await page.context().close().catch(() => {});
    win.emit('closed');
  }

  s.windows.push(win);
  app.emit('web-contents-created', preventable(), wc);
  return win;
}

/** The script that runs before the page's own scripts: Electron's preload environment, then the real preload. */
export function preloadScript(preloadSource: string): string {
  return `(() => {
  if (window.top !== window) return; // preloads run in the main frame only (nodeIntegrationInSubFrames: false)
  const ipc = window.__harnessIpc, open = window.__harnessOpen;
  const listeners = new Map();
  const ipcRenderer = {
    invoke: (channel, ...args) => ipc('invoke', channel, args),
    send: (channel, ...args) => void ipc('send', channel, args),
    on(channel, fn) { if (!listeners.has(channel)) listeners.set(channel, []); listeners.get(channel).push(fn); return ipcRenderer; },
    removeListener(channel, fn) { const l = listeners.get(channel) || []; const i = l.indexOf(fn); if (i >= 0) l.splice(i, 1); return ipcRenderer; },
    listenerCount: (channel) => (listeners.get(channel) || []).length,
  };
  Object.defineProperty(window, '__harnessDeliver', { value: (channel, args) => { for (const fn of [...(listeners.get(channel) || [])]) fn({ sender: ipcRenderer }, ...args); } });
  const contextBridge = { exposeInMainWorld(key, api) { Object.defineProperty(window, key, { value: Object.freeze(api), enumerable: true }); } };
  const realOpen = window.open.bind(window);
  window.open = (url, name, features) => { open(String(url), name || '', features || '').then((a) => { if (a === 'allow') realOpen(url, name, features); }); return null; };
  const module = { exports: {} };
  const require = (m) => { if (m === 'electron') return { contextBridge, ipcRenderer }; throw new Error('Cannot find module ' + m); };
  (function (exports, require, module) {
${preloadSource}
  })(module.exports, require, module);
})();`;
}
