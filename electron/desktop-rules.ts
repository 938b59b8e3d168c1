// Plain decisions of the desktop shell (no Electron): where files go, what the window's
// close does without a tray, which permissions and external URLs pass, the autostart
// entry on Linux, and the application menu of packaged builds. Tested under Node
// (test/unit/desktop-rules.test.ts) and through the harness.
import { join } from 'node:path';
import { APP_DIR_NAME, userConfigDir, userStateDir } from '../broker/config/load.js';

/** One naming rule in dev and packaged builds: Electron's userData is the broker's config dir. */
export function appPaths(opts: { env?: NodeJS.ProcessEnv; platform?: NodeJS.Platform; homedir?: string } = {}) {
  const state = userStateDir(opts);
  const logs = join(state, 'logs');
  return { userData: userConfigDir(opts), state, logs, brokerLog: join(logs, 'broker.log'), mainLog: join(logs, 'main.log') };
}

/**
 * What closing the window does. Without a tray to reopen it from (GNOME without the
 * AppIndicator extension) hiding would leave the app invisible: minimise instead.
 */
export function closeAction(trayAvailable: boolean): 'hide' | 'minimize' {
  return trayAvailable ? 'hide' : 'minimize';
}

/** Permission checks and requests: only writing to the clipboard (the copy buttons). */
export const allowPermission = (permission: string): boolean => permission === 'clipboard-sanitized-write';

/**
 * URLs the window may open in the user's browser: login pages of the configured issuers
 * (same origin; loopback http issuers included, since the config allows them) and the
 * URLs the broker itself returned from a login (device verification pages).
 */
export function allowExternal(url: string, issuers: readonly string[], loginUrls: ReadonlySet<string>): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return false;
  if (loginUrls.has(url)) return true;
  return issuers.some((issuer) => {
    try {
      const i = new URL(issuer);
      return i.origin === u.origin && (i.protocol === 'https:' || isLoopback(i.hostname));
    } catch {
      return false;
    }
  });
}

const isLoopback = (host: string): boolean => host === 'localhost' || host === '[::1]' || /^127\./.test(host);

/** Linux has no login items: an XDG autostart entry starts the app hidden to the tray. */
export function autostartEntry(exec: readonly string[]): string {
  const quoted = exec.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `"${a.replace(/(["`$\\])/g, '\\$1')}"`)).join(' ');
  return ['[Desktop Entry]', 'Type=Application', 'Name=Secretless Desktop', 'Comment=Connect to databases without holding their passwords', `Exec=${quoted} --hidden`, 'Icon=secretless-desktop', 'Terminal=false', 'X-GNOME-Autostart-enabled=true', ''].join('\n');
}

export function autostartPath(env: NodeJS.ProcessEnv, homedir: string): string {
  const config = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(homedir, '.config');
  return join(config, 'autostart', `${APP_DIR_NAME}.desktop`);
}

/** Launched at login: hidden to the tray (Linux: our autostart entry's flag; macOS/Windows: the OS says). */
export function launchedHidden(argv: readonly string[], wasOpenedAtLogin: boolean): boolean {
  return wasOpenedAtLogin || argv.includes('--hidden');
}

/** Application menu of packaged builds: editing and window roles, no Reload or DevTools. */
export function packagedMenuRoles(platform: NodeJS.Platform): string[][] {
  const edit = ['undo', 'redo', 'cut', 'copy', 'paste', 'selectAll'];
  const window = ['minimize', 'close'];
  return platform === 'darwin' ? [['about', 'hide', 'quit'], edit, window] : [edit, window];
}
