// OS notifications with a click that leads somewhere: the window opens at the target or
// session the notification is about, and an expired session offers "Log in again".
// Each shown key is shown once. Where the OS cannot show notifications they are kept
// as items at the top of the tray menu instead of vanishing.
import { Notification } from 'electron';
import type { ApprovalAnswer } from '../broker/api.js';
import { APPROVAL_ACTIONS, type DesktopNotification } from './notify.js';
import type { TrayAction } from './tray.js';

export interface NotificationsOptions {
  onOpen(at: { target?: string; identity?: string; approval?: string }): void;
  onLogin(identity: string): void;
  /** A button of an approval notification. */
  onApprovalAnswer(id: string, answer: ApprovalAnswer): void;
  onUnseenChanged(): void;
}

export interface Notifications {
  show(n: DesktopNotification | undefined): void;
  /** Notifications that could not be shown, newest first (at most 3). */
  unseen(): { title: string; action: TrayAction }[];
  clearUnseen(action: TrayAction): void;
  /** Takes back a notification that no longer applies (an approval answered elsewhere). */
  close(key: string): void;
}

export function createNotifications(options: NotificationsOptions): Notifications {
  const shown = new Set<string>();
  // Electron drops the click handler of a notification that was garbage-collected.
  const live = new Set<Notification>();
  const byKey = new Map<string, Notification>();
  let unseen: { title: string; action: Extract<TrayAction, { type: 'show' }> }[] = [];

  return {
    show(n) {
      if (!n || shown.has(n.key)) return;
      shown.add(n.key);
      const at = n.approval ? { approval: n.approval } : { ...(n.target ? { target: n.target } : {}), ...(n.identity ? { identity: n.identity } : {}) };
      if (!Notification.isSupported()) {
        unseen = [{ title: n.title, action: { type: 'show' as const, ...at } }, ...unseen].slice(0, 3);
        options.onUnseenChanged();
        return;
      }
      const loginAgain = n.kind === 'expired' && n.identity;
      const actions = n.approval ? APPROVAL_ACTIONS.map((a) => a.text) : loginAgain ? ['Log in again'] : [];
      // An approval stays until answered (urgency critical: GNOME keeps it on screen).
      const note = new Notification({ title: n.title, body: n.body, ...(actions.length ? { actions: actions.map((text) => ({ type: 'button' as const, text })) } : {}), ...(n.approval ? { urgency: 'critical' as const, timeoutType: 'never' as const } : {}) });
      live.add(note);
      byKey.set(n.key, note);
      const forget = (): void => {
        live.delete(note);
        byKey.delete(n.key);
      };
      note.on('click', () => {
        forget();
        options.onOpen(at);
      });
      note.on('action', (_e: unknown, index: number) => {
        forget();
        if (n.approval) options.onApprovalAnswer(n.approval, APPROVAL_ACTIONS[index]?.answer ?? { type: 'deny' });
        else if (n.identity) options.onLogin(n.identity);
      });
      note.on('close', forget);
      note.show();
    },
    unseen: () => unseen,
    close(key) {
      byKey.get(key)?.close();
      byKey.delete(key);
    },
    clearUnseen(action) {
      if (action.type !== 'show') return;
      const before = unseen.length;
      unseen = unseen.filter((u) => u.action.target !== action.target || u.action.identity !== action.identity);
      if (unseen.length !== before) options.onUnseenChanged();
    },
  };
}
