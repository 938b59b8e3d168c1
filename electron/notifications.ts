// OS notifications with a click that leads somewhere: the window opens at the target or
// session the notification is about, and an expired session offers "Log in again".
// Each shown key is shown once. Where the OS cannot show notifications they are kept
// as items at the top of the tray menu instead of vanishing.
import { Notification } from 'electron';
import type { DesktopNotification } from './notify.js';
import type { TrayAction } from './tray.js';

export interface NotificationsOptions {
  onOpen(at: { target?: string; identity?: string }): void;
  onLogin(identity: string): void;
  onUnseenChanged(): void;
}

export interface Notifications {
  show(n: DesktopNotification | undefined): void;
  /** Notifications that could not be shown, newest first (at most 3). */
  unseen(): { title: string; action: TrayAction }[];
  clearUnseen(action: TrayAction): void;
}

export function createNotifications(options: NotificationsOptions): Notifications {
  const shown = new Set<string>();
  // Electron drops the click handler of a notification that was garbage-collected.
  const live = new Set<Notification>();
  let unseen: { title: string; action: Extract<TrayAction, { type: 'show' }> }[] = [];

  return {
    show(n) {
      if (!n || shown.has(n.key)) return;
      shown.add(n.key);
      const at = { ...(n.target ? { target: n.target } : {}), ...(n.identity ? { identity: n.identity } : {}) };
      if (!Notification.isSupported()) {
        unseen = [{ title: n.title, action: { type: 'show' as const, ...at } }, ...unseen].slice(0, 3);
        options.onUnseenChanged();
        return;
      }
      const loginAgain = n.kind === 'expired' && n.identity;
      const note = new Notification({ title: n.title, body: n.body, ...(loginAgain ? { actions: [{ type: 'button' as const, text: 'Log in again' }] } : {}) });
      live.add(note);
      note.on('click', () => {
        live.delete(note);
        options.onOpen(at);
      });
      note.on('action', () => {
        live.delete(note);
        if (n.identity) options.onLogin(n.identity);
      });
      note.on('close', () => live.delete(note));
      note.show();
    },
    unseen: () => unseen,
    clearUnseen(action) {
      if (action.type !== 'show') return;
      const before = unseen.length;
      unseen = unseen.filter((u) => u.action.target !== action.target || u.action.identity !== action.identity);
      if (unseen.length !== before) options.onUnseenChanged();
    },
  };
}
