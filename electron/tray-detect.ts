// Whether a tray icon will be visible. On Linux the icon is a StatusNotifierItem, shown
// only when something on the session bus hosts them (KDE, most desktops; GNOME only with
// the AppIndicator extension): without org.kde.StatusNotifierWatcher there is no tray.
import { execFile } from 'node:child_process';

export function detectTray(platform: NodeJS.Platform): Promise<boolean> {
  if (platform !== 'linux') return Promise.resolve(true);
  return new Promise((resolve) => {
    execFile(
      'dbus-send',
      ['--session', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.NameHasOwner', 'string:org.kde.StatusNotifierWatcher'],
      { timeout: 3_000 },
      (err, stdout) => {
        // No dbus-send to ask: assume a tray, as before. No session bus at all: no tray.
        if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') return resolve(true);
        resolve(!err && /boolean true/.test(stdout));
      },
    );
  });
}
