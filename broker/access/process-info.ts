// What the approval prompt says about a client process: its executable, command line,
// start time (so a grant "until it exits" cannot pass to a later process that gets the
// same pid) and the app it runs in (the terminal or IDE), found by walking the parent
// chain. Linux reads /proc; elsewhere only the pid is known. Never throws.
import { readFileSync } from 'node:fs';
import { readFile, readlink } from 'node:fs/promises';

export interface ProcessSummary {
  pid: number;
  /** The executable's path (/usr/bin/psql); the short name when the path is not readable. */
  exe?: string;
  name?: string;
}

export interface ProcessInfo extends ProcessSummary {
  /** argv, each argument cut at 200 characters, at most 32 of them. */
  cmdline?: string[];
  /** When the process started, in clock ticks since boot (/proc/PID/stat field 22): with the pid, it names one process for good. */
  startTime?: string;
  /** The app the process runs in: a known terminal or IDE among its ancestors, else its session leader. */
  parentApp?: ProcessSummary;
}

/** A process started by one of these is "in" that app (the prompt names it). */
const KNOWN_APPS = new Set([
  'gnome-terminal-', // comm is cut at 15 characters: gnome-terminal-server
  'gnome-terminal',
  'konsole',
  'xterm',
  'uxterm',
  'alacritty',
  'kitty',
  'wezterm-gui',
  'tilix',
  'terminator',
  'xfce4-terminal',
  'foot',
  'tmux: server',
  'screen',
  'code',
  'code-insiders',
  'cursor',
  'idea',
  'datagrip',
  'pycharm',
  'goland',
  'webstorm',
  'dbeaver',
  'java',
  'sshd',
  'Terminal',
  'iTerm2',
]);

interface Stat {
  name: string;
  ppid: number;
  session: number;
  startTime: string;
}

/** Fields of /proc/PID/stat; the name is in parentheses and may itself contain spaces and parentheses. */
export function parseProcStat(text: string): Stat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state): ppid is field 4, session 6, starttime 22.
  const ppid = Number(rest[1]);
  const session = Number(rest[3]);
  const startTime = rest[19];
  if (!Number.isInteger(ppid) || !Number.isInteger(session) || !startTime) return undefined;
  return { name: text.slice(open + 1, close), ppid, session, startTime };
}

async function stat(pid: number): Promise<Stat | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'latin1').catch(() => undefined);
  return text === undefined ? undefined : parseProcStat(text);
}

async function summary(pid: number, name: string | undefined): Promise<ProcessSummary> {
  const exe = await readlink(`/proc/${pid}/exe`).catch(() => undefined);
  return { pid, ...(exe ? { exe: exe.replace(/ \(deleted\)$/, '') } : {}), ...(name ? { name } : {}) };
}

/** Whether pid is still the process that started at startTime (a grant "until it exits" ends with it). */
export function isSameProcess(pid: number, startTime: string): boolean {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'latin1'))?.startTime === startTime;
  } catch {
    return false;
  }
}

export async function describeProcess(pid: number): Promise<ProcessInfo> {
  if (process.platform !== 'linux') return { pid };
  const own = await stat(pid);
  const info: ProcessInfo = { ...(await summary(pid, own?.name)) };
  if (!own) return info;
  info.startTime = own.startTime;
  const raw = await readFile(`/proc/${pid}/cmdline`).catch(() => undefined);
  if (raw && raw.length > 0) {
    info.cmdline = raw
      .toString('utf8')
      .replace(/\0$/, '')
      .split('\0')
      .slice(0, 32)
      .map((a) => (a.length > 200 ? `${a.slice(0, 200)}…` : a));
  }
  const app = await findParentApp(own);
  if (app) info.parentApp = app;
  return info;
}

/** Up the parent chain to a known app, else the session leader (the shell a terminal started), at most 32 steps. */
async function findParentApp(start: Stat): Promise<ProcessSummary | undefined> {
  let pid = start.ppid;
  let leader: { pid: number; name: string } | undefined;
  for (let step = 0; step < 32 && pid > 1; step++) {
    const s = await stat(pid);
    if (!s) break;
    if (KNOWN_APPS.has(s.name)) return summary(pid, s.name);
    if (!leader && s.session === pid) leader = { pid, name: s.name };
    pid = s.ppid;
  }
  return leader ? summary(leader.pid, leader.name) : undefined;
}
