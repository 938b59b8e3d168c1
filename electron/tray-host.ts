// The tray icon: its image, tooltip and menu from tray.ts, updated at most every 250 ms
// and only when they change (a new context menu closes the one the user has open on
// Linux and Windows).
import { clipboard, Menu, nativeImage, Tray, type MenuItemConstructorOptions } from 'electron';
import { join } from 'node:path';
import { buildTrayMenu, menuKey, trayState, trayTooltip, type TrayAction, type TrayInput, type TrayMenuItem, type TrayState } from './tray.js';

export interface TrayHostOptions {
  iconDir: string;
  /** macOS: monochrome Template images the menu bar tints. */
  template: boolean;
  input(): TrayInput;
  perform(action: TrayAction): void;
  onClick(): void;
}

export interface TrayHost {
  update(): void;
  copy(text: string): void;
  destroy(): void;
}

const DEBOUNCE_MS = 250;

export function createTrayHost(options: TrayHostOptions): TrayHost {
  const icon = (state: TrayState) => {
    const image = nativeImage.createFromPath(join(options.iconDir, options.template ? `tray-${state}Template.png` : `tray-${state}.png`));
    if (options.template) image.setTemplateImage(true);
    return image;
  };
  const toElectron = (items: TrayMenuItem[]): MenuItemConstructorOptions[] =>
    items.map((item): MenuItemConstructorOptions => {
      switch (item.kind) {
        case 'separator':
          return { type: 'separator' };
        case 'label':
          return { label: item.label, enabled: false };
        case 'action':
          return { label: item.label, enabled: item.enabled, click: () => options.perform(item.action) };
        case 'toggle':
          return { label: item.label, type: 'checkbox', checked: item.checked, enabled: item.enabled, click: () => options.perform(item.action) };
        case 'submenu':
          return { label: item.label, submenu: toElectron(item.items) };
      }
    });

  let shown = { state: '', tooltip: '', menu: '' };
  let timer: NodeJS.Timeout | undefined;
  const input0 = options.input();
  const tray = new Tray(icon(trayState(input0)));
  tray.on('click', options.onClick);

  const apply = (): void => {
    timer = undefined;
    if (tray.isDestroyed()) return;
    const input = options.input();
    const state = trayState(input);
    const tooltip = trayTooltip(input);
    const items = buildTrayMenu(input);
    const key = menuKey(items);
    if (state !== shown.state) tray.setImage(icon(state));
    if (tooltip !== shown.tooltip) tray.setToolTip(tooltip);
    if (key !== shown.menu) tray.setContextMenu(Menu.buildFromTemplate(toElectron(items)));
    shown = { state, tooltip, menu: key };
  };
  apply();

  return {
    update() {
      timer ??= setTimeout(apply, DEBOUNCE_MS);
    },
    copy: (text) => clipboard.writeText(text),
    destroy() {
      clearTimeout(timer);
      if (!tray.isDestroyed()) tray.destroy();
    },
  };
}
