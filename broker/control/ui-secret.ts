// The UI's access token and port, kept across broker restarts in <state dir>/ui.json
// (0600 in the 0700 state dir), so an open page reconnects to a restarted broker by
// itself: same origin, same token. The token changes only when the user asks
// (`secretless-desktop open --new-token`).
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface UiSecret {
  token: string;
  /** The port the UI last listened on, reused when free. */
  port?: number;
}

export const uiSecretPath = (stateDir: string): string => join(stateDir, 'ui.json');

export const newUiToken = (): string => randomBytes(32).toString('base64url');

/** The saved secret; a missing or broken file means none (a new token is made). */
export function readUiSecret(stateDir: string): UiSecret | undefined {
  try {
    const data = JSON.parse(readFileSync(uiSecretPath(stateDir), 'utf8')) as Partial<UiSecret>;
    if (typeof data.token !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(data.token)) return undefined;
    return { token: data.token, ...(Number.isInteger(data.port) && data.port! > 0 && data.port! < 65536 ? { port: data.port! } : {}) };
  } catch {
    return undefined;
  }
}

export function saveUiSecret(stateDir: string, secret: UiSecret): void {
  const path = uiSecretPath(stateDir);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(secret) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
}
