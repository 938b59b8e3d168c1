// How a `login` or `logout` done by another process (the CLI in a terminal) reaches a
// running broker at once. The tokens themselves stay in the OS keychain only; none of
// the keychains @napi-rs/keyring reaches (Secret Service, macOS Keychain, Windows
// Credential Manager) exposes change notifications through it, so the command also
// writes <state dir>/identity-changes.json (names and a time, nothing secret) and the
// broker watches the state directory for it.
import { mkdirSync, readFileSync, renameSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const IDENTITY_CHANGES_FILE = 'identity-changes.json';

export interface IdentityChange {
  identity: string;
  change: 'login' | 'logout';
  pid: number;
  at: string;
}

/** Called by the command after a login or logout; never throws (a broker may not be running). */
export function signalIdentityChange(stateDir: string, change: Pick<IdentityChange, 'identity' | 'change'>): void {
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const path = join(stateDir, IDENTITY_CHANGES_FILE);
    const tmp = `${path}.${process.pid}.tmp`;
    const body: IdentityChange = { ...change, pid: process.pid, at: new Date().toISOString() };
    writeFileSync(tmp, JSON.stringify(body) + '\n', { mode: 0o600 });
    renameSync(tmp, path);
  } catch {
    // Without the signal the broker still sees the change at its next keychain read.
  }
}

/** Calls onChange for each change another process signals; returns the stop function. */
export function watchIdentityChanges(stateDir: string, onChange: (change: IdentityChange) => void): () => void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, IDENTITY_CHANGES_FILE);
  let last = read(path)?.at ?? '';
  const check = (): void => {
    const change = read(path);
    if (!change || change.at === last) return;
    last = change.at;
    if (change.pid !== process.pid) onChange(change);
  };
  // The directory, not the file: the file is replaced by rename.
  const watcher = watch(stateDir, (_event, file) => {
    if (!file || file === IDENTITY_CHANGES_FILE) check();
  });
  watcher.on('error', () => {});
  return () => watcher.close();
}

function read(path: string): IdentityChange | undefined {
  try {
    const data = JSON.parse(readFileSync(path, 'utf8')) as Partial<IdentityChange>;
    if (typeof data.identity !== 'string' || (data.change !== 'login' && data.change !== 'logout') || typeof data.at !== 'string') return undefined;
    return { identity: data.identity, change: data.change, pid: Number(data.pid), at: data.at };
  } catch {
    return undefined;
  }
}
