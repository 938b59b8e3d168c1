// The stand-in `electron` module the harness gives the real compiled electron/main.js (the
// loader in loader.ts maps the specifier `electron` here). Each export is typed as a Pick
// of the real type from node_modules/electron/electron.d.ts, so a signature change there
// breaks this file's typecheck instead of drifting silently; the surface is what main.ts
// uses, and a call outside it fails the test (undefined is not a function).
//
// Real where it can be: windows are pages of Debian's Chromium loading the real built
// renderer with the real preload (page.ts), the utility process is a real child process
// (utility.ts). Recorded and drivable: app, Tray, Menu, Notification, powerMonitor,
// shell, dialog, clipboard, session permission handlers (see state.ts).
import type * as E from 'electron';
import { EventEmitter } from 'node:events';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { harnessState, type MenuItemRecord } from './state.js';
import { createWindow, type HarnessWindow } from './page.js';
import { forkUtility } from './utility.js';

const state = () => harnessState();

// ---- app ----
type AppSurface = Pick<
  E.App,
  | 'whenReady'
  | 'quit'
  | 'exit'
  | 'requestSingleInstanceLock'
  | 'getPath'
  | 'setPath'
  | 'getLoginItemSettings'
  | 'setLoginItemSettings'
  | 'setAppUserModelId'
  | 'getVersion'
  | 'getName'
  | 'isPackaged'
  | 'getAppPath'
  | 'relaunch'
> & { dock?: Pick<E.Dock, 'hide' | 'show'> };

class HarnessApp extends EventEmitter implements AppSurface {
  get isPackaged(): boolean {
    return state().options.packaged;
  }
  get dock(): Pick<E.Dock, 'hide' | 'show'> | undefined {
    if (state().options.platform !== 'darwin') return undefined;
    return {
      hide: () => void (state().dockVisible = false),
      show: async () => void (state().dockVisible = true),
    };
  }
  whenReady(): Promise<void> {
    return state().ready;
  }
  requestSingleInstanceLock(): boolean {
    return state().options.singleInstanceLock;
  }
  getPath(name: Parameters<E.App['getPath']>[0]): string {
    const p = state().paths[name];
    if (!p) throw new Error(`harness: app.getPath('${name}') is not set`);
    return p;
  }
  setPath(name: Parameters<E.App['setPath']>[0], path: string): void {
    state().paths[name] = path;
  }
  getAppPath(): string {
    return state().paths.appPath ?? process.cwd();
  }
  relaunch(): void {
    state().relaunched = true;
  }
  getVersion(): string {
    return state().options.version;
  }
  getName(): string {
    return state().options.name;
  }
  getLoginItemSettings(): E.LoginItemSettings {
    return { openAtLogin: state().loginItem.openAtLogin, wasOpenedAtLogin: state().options.openedAtLogin } as E.LoginItemSettings;
  }
  setLoginItemSettings(settings: E.Settings): void {
    // As Electron: a no-op on Linux (the defect issue 13 point 3 is about).
    if (state().options.platform === 'linux') return;
    state().loginItem.openAtLogin = settings.openAtLogin ?? false;
  }
  setAppUserModelId(id: string): void {
    state().appUserModelId = id;
  }
  quit(): void {
    state().quitRequested++;
    void state().runQuit(this);
  }
  exit(code = 0): void {
    state().exited = { code };
    state().onExit();
  }
}
export const app = new HarnessApp();

// ---- ipcMain ----
type IpcMainSurface = Pick<E.IpcMain, 'handle' | 'removeHandler'>;
class HarnessIpcMain extends EventEmitter implements IpcMainSurface {
  handle(channel: string, listener: (event: E.IpcMainInvokeEvent, ...args: any[]) => Promise<any> | any): void {
    if (state().handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    state().handlers.set(channel, listener);
  }
  removeHandler(channel: string): void {
    state().handlers.delete(channel);
  }
}
export const ipcMain = new HarnessIpcMain();

// ---- nativeImage ----
export interface HarnessImage {
  path: string;
  template: boolean;
}
type ImageSurface = Pick<E.NativeImage, 'isEmpty' | 'setTemplateImage' | 'isTemplateImage'>;
export const nativeImage = {
  createFromPath(path: string): E.NativeImage {
    const image: HarnessImage & ImageSurface = {
      path,
      // As Electron: a file name ending in Template is a template image on macOS.
      template: /Template(@\dx)?\.png$/.test(path),
      isEmpty: () => !state().fileExists(path),
      setTemplateImage(v: boolean) {
        image.template = v;
      },
      isTemplateImage: () => image.template,
    };
    return image as unknown as E.NativeImage;
  },
} satisfies Pick<typeof E.nativeImage, 'createFromPath'>;

// ---- Menu ----
type MenuSurface = Pick<E.Menu, 'items'>;
export class Menu implements MenuSurface {
  items: E.MenuItem[];
  constructor(readonly template: E.MenuItemConstructorOptions[]) {
    this.items = [];
  }
  static buildFromTemplate(template: E.MenuItemConstructorOptions[]): E.Menu {
    return new Menu(template) as unknown as E.Menu;
  }
  static setApplicationMenu(menu: E.Menu | null): void {
    state().applicationMenu = menu ? records((menu as unknown as Menu).template) : null;
  }
}
function records(template: E.MenuItemConstructorOptions[]): MenuItemRecord[] {
  return template.map((t) => ({
    label: t.label ?? '',
    type: t.type ?? (t.submenu ? 'submenu' : 'normal'),
    role: t.role,
    enabled: t.enabled ?? true,
    checked: t.checked ?? false,
    click: t.click ? () => (t.click as () => void)() : undefined,
    submenu: Array.isArray(t.submenu) ? records(t.submenu) : t.submenu ? records((t.submenu as unknown as Menu).template) : undefined,
  }));
}

// ---- Tray ----
type TraySurface = Pick<E.Tray, 'setImage' | 'setToolTip' | 'setContextMenu' | 'destroy' | 'isDestroyed'>;
export class Tray extends EventEmitter implements TraySurface {
  constructor(image: E.NativeImage | string) {
    super();
    const s = state();
    s.tray = { image: image as unknown as HarnessImage, tooltip: '', menu: [], menuSets: 0, emitter: this, destroyed: false };
  }
  setImage(image: E.NativeImage | string): void {
    state().tray!.image = image as unknown as HarnessImage;
  }
  setToolTip(toolTip: string): void {
    state().tray!.tooltip = toolTip;
  }
  setContextMenu(menu: E.Menu | null): void {
    const t = state().tray!;
    t.menu = menu ? records((menu as unknown as Menu).template) : [];
    t.menuSets++;
  }
  destroy(): void {
    state().tray!.destroyed = true;
  }
  isDestroyed(): boolean {
    return state().tray?.destroyed ?? true;
  }
}

// ---- Notification ----
type NotificationSurface = Pick<E.Notification, 'show' | 'close'>;
export class Notification extends EventEmitter implements NotificationSurface {
  static isSupported(): boolean {
    return state().options.notificationsSupported;
  }
  constructor(readonly options: E.NotificationConstructorOptions = {}) {
    super();
  }
  show(): void {
    state().notifications.push({
      title: this.options.title ?? '',
      body: this.options.body ?? '',
      actions: (this.options.actions ?? []).map((a) => a.text ?? ''),
      click: () => this.emit('click', { preventDefault() {} }),
      act: (text) => {
        const index = (this.options.actions ?? []).findIndex((a) => a.text === text);
        if (index < 0) throw new Error(`the notification '${this.options.title}' has no action '${text}'`);
        this.emit('action', { preventDefault() {} }, index);
      },
      closed: false,
    });
  }
  close(): void {
    for (const n of state().notifications) if (n.title === this.options.title) n.closed = true;
    this.emit('close', { preventDefault() {} });
  }
}

// ---- BrowserWindow ----
export const BrowserWindow = class {
  constructor(options: E.BrowserWindowConstructorOptions = {}) {
    return createWindow(options, state());
  }
  static getAllWindows(): HarnessWindow[] {
    return state().windows.filter((w) => !w.isDestroyed());
  }
} as unknown as typeof E.BrowserWindow;

// ---- utilityProcess ----
export const utilityProcess = {
  fork: (modulePath: string, args?: string[], options?: E.ForkOptions): E.UtilityProcess => forkUtility(modulePath, args ?? [], options ?? {}, state()) as unknown as E.UtilityProcess,
} satisfies Pick<typeof E.utilityProcess, 'fork'>;

// ---- powerMonitor ----
export const powerMonitor = new EventEmitter();

// ---- shell, clipboard, dialog ----
export const shell = {
  openExternal: async (url: string): Promise<void> => void state().opened.push({ type: 'external', url }),
  openPath: async (path: string): Promise<string> => {
    state().opened.push({ type: 'path', url: path });
    return '';
  },
  showItemInFolder: (path: string): void => void state().opened.push({ type: 'folder', url: path }),
} satisfies Pick<typeof E.shell, 'openExternal' | 'openPath' | 'showItemInFolder'>;

export const clipboard = {
  writeText: (text: string): void => void (state().clipboard = text),
  readText: (): string => state().clipboard,
} satisfies Pick<typeof E.clipboard, 'writeText' | 'readText'>;

export const dialog = {
  showErrorBox: (title: string, content: string): void => void state().dialogs.push({ title, body: content }),
  showMessageBox: async (options: E.MessageBoxOptions): Promise<E.MessageBoxReturnValue> => {
    state().dialogs.push({ title: options.title ?? '', body: `${options.message}\n${options.detail ?? ''}` });
    return { response: state().options.dialogResponse, checkboxChecked: false };
  },
};

// ---- session ----
type SessionSurface = Pick<E.Session, 'setPermissionRequestHandler' | 'setPermissionCheckHandler'>;
export const session = {
  // electron-updater downloads through its own partition.
  fromPartition: (_partition: string): object => ({}),
  defaultSession: {
    setPermissionRequestHandler(handler) {
      state().permissionRequest = handler as never;
    },
    setPermissionCheckHandler(handler) {
      state().permissionCheck = handler as never;
    },
  } satisfies SessionSurface,
};

// ---- net (electron-updater's HTTP) ----
// Node's http(s).request in the shape electron-updater uses from net.request: the same
// 'response' stream (statusCode, headers, data/end), abort(), end(). Electron's own
// redirect event is not raised: a redirect arrives as a response with a location header,
// which electron-updater also follows.
export const net = {
  request(options: E.ClientRequestConstructorOptions): E.ClientRequest {
    const { session: _s, redirect: _r, protocol, ...rest } = options as E.ClientRequestConstructorOptions & { session?: unknown };
    const req = (protocol === 'https:' ? httpsRequest : httpRequest)({ protocol: protocol ?? 'http:', ...(rest as object) });
    state().netRequests.push(`${protocol ?? 'http:'}//${options.hostname}${options.port ? `:${options.port}` : ''}${options.path ?? ''}`);
    return req as unknown as E.ClientRequest;
  },
};

// ---- autoUpdater (Electron's native one): electron-updater emits before-quit-for-update on it ----
export const autoUpdater = new EventEmitter();

export default { app, net, autoUpdater, ipcMain, nativeImage, Menu, Tray, Notification, BrowserWindow, utilityProcess, powerMonitor, shell, clipboard, dialog, session };
