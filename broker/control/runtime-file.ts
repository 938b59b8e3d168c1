// How the CLI finds a running broker: `serve --ui` writes <state dir>/control.json
// (mode 0600, in the 0700 state dir) with the control API's URL, token and pid, and
// deletes it on exit. A file left by a killed broker is recognised by its dead pid.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface ControlInfo {
  url: string;
  token: string;
  pid: number;
}

export function controlFilePath(stateDir: string): string {
  return join(stateDir, 'control.json');
}

export function writeControlFile(path: string, info: ControlInfo): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(info) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
}

/** Removes the file only if it is still ours (another broker may have replaced it). */
export function removeControlFile(path: string, pid = process.pid): void {
  const info = readControlFile(path);
  if (info && info.pid !== pid) return;
  rmSync(path, { force: true });
}

export function readControlFile(path: string): ControlInfo | undefined {
  try {
    const data = JSON.parse(readFileSync(path, 'utf8')) as Partial<ControlInfo>;
    if (typeof data.url !== 'string' || typeof data.token !== 'string' || typeof data.pid !== 'number') return undefined;
    return { url: data.url, token: data.token, pid: data.pid };
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
