// What one launch of the app under the harness has done so far: the recorded side of the
// stand-in electron module, read and driven by the tests through harness.ts. Kept on
// globalThis because the stand-in module is loaded once per process while main.js is
// loaded once per launch.
import type { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import type { HarnessWindow } from './page.js';
import type { HarnessUtility } from './utility.js';
import type { HarnessImage } from './standin.js';

export interface LaunchOptions {
  packaged: boolean;
  platform: NodeJS.Platform;
  singleInstanceLock: boolean;
  version: string;
  name: string;
  notificationsSupported: boolean;
  openedAtLogin: boolean;
  dialogResponse: number;
}

export interface MenuItemRecord {
  label: string;
  type: string;
  role?: string;
  enabled: boolean;
  checked: boolean;
  click?: () => void;
  submenu?: MenuItemRecord[];
}

export interface NotificationRecord {
  title: string;
  body: string;
  actions: string[];
  click(): void;
  /** Presses the action button with this text (as the OS reports it: the button's index). */
  act(text: string): void;
  closed: boolean;
}

export interface TrayRecord {
  image: HarnessImage;
  tooltip: string;
  menu: MenuItemRecord[];
  /** How many times setContextMenu was called (an open menu closes each time). */
  menuSets: number;
  emitter: EventEmitter;
  destroyed: boolean;
}

type PermissionCheck = (wc: unknown, permission: string, origin: string, details: unknown) => boolean;
type PermissionRequest = (wc: unknown, permission: string, done: (ok: boolean) => void, details: unknown) => void;

export interface HarnessState {
  options: LaunchOptions;
  browser: Browser;
  rendererPreload: string;
  paths: Record<string, string>;
  ready: Promise<void>;
  loginItem: { openAtLogin: boolean };
  appUserModelId?: string;
  dockVisible: boolean;
  quitRequested: number;
  quitting?: Promise<void>;
  exited?: { code: number };
  onExit: () => void;
  handlers: Map<string, (event: any, ...args: any[]) => unknown>;
  ipcMain?: EventEmitter;
  powerMonitor?: EventEmitter;
  tray?: TrayRecord;
  notifications: NotificationRecord[];
  windows: HarnessWindow[];
  utilities: HarnessUtility[];
  applicationMenu?: MenuItemRecord[] | null;
  opened: { type: 'external' | 'path' | 'folder'; url: string }[];
  clipboard: string;
  /** URLs requested through net.request (electron-updater). */
  netRequests: string[];
  relaunched?: boolean;
  dialogs: { title: string; body: string }[];
  permissionCheck?: PermissionCheck;
  permissionRequest?: PermissionRequest;
  fileExists(path: string): boolean;
  runQuit(app: EventEmitter): Promise<void>;
}

const KEY = Symbol.for('secretless.electron-harness.state');
type WithState = { [KEY]?: HarnessState };

export function harnessState(): HarnessState {
  const s = (globalThis as WithState)[KEY];
  if (!s) throw new Error('electron stand-in used outside a harness launch');
  return s;
}

export function setHarnessState(s: HarnessState): void {
  (globalThis as WithState)[KEY] = s;
}

/** A preventable event, as Electron passes to before-quit, will-quit, close, will-navigate. */
export function preventable(extra: Record<string, unknown> = {}): { preventDefault(): void; defaultPrevented: boolean } & Record<string, unknown> {
  const e = {
    ...extra,
    defaultPrevented: false,
    preventDefault() {
      e.defaultPrevented = true;
    },
  };
  return e;
}

/** Electron's quit sequence: before-quit, close every window, will-quit, quit; each but the last preventable. */
export async function quitSequence(s: HarnessState, app: EventEmitter): Promise<void> {
  const before = preventable();
  app.emit('before-quit', before);
  if (before.defaultPrevented) return;
  for (const w of s.windows) {
    if (w.isDestroyed()) continue;
    if (!(await w.closeForQuit())) return;
  }
  const will = preventable();
  app.emit('will-quit', will);
  if (will.defaultPrevented) return;
  app.emit('quit', preventable(), 0);
  s.exited = { code: 0 };
  s.onExit();
}

export const fileExists = (path: string): boolean => existsSync(path);
