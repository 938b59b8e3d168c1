// The messages between the Electron main process and the broker running in its utility
// process (process.parentPort). Headless `serve` has no parent port and none of this.
import type { BrokerRunState } from '../api.js';

export type ToMain =
  | { type: 'control-ready'; url: string; token: string }
  | { type: 'broker-state'; status: BrokerRunState };

export type FromMain =
  /** Quit, suspend or shutdown: stop accepting, drain for at most drainMs, exit. */
  | { type: 'stop'; drainMs: number }
  /** The machine woke up: refresh what slept through its timers. */
  | { type: 'resume' }
  /** The screen locked or the machine is going to sleep: lock approvals if the settings say so. */
  | { type: 'auto-lock'; event: 'screen-lock' | 'sleep' };

export interface ParentPort {
  postMessage(message: ToMain): void;
  on(event: 'message', listener: (e: { data: unknown }) => void): void;
}

export function parentPort(): ParentPort | undefined {
  return (process as unknown as { parentPort?: ParentPort }).parentPort;
}

export function parseFromMain(data: unknown): FromMain | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const m = data as { type?: unknown; drainMs?: unknown; event?: unknown };
  if (m.type === 'resume') return { type: 'resume' };
  if (m.type === 'auto-lock' && (m.event === 'screen-lock' || m.event === 'sleep')) return { type: 'auto-lock', event: m.event };
  if (m.type === 'stop') return { type: 'stop', drainMs: typeof m.drainMs === 'number' && m.drainMs >= 0 ? Math.min(m.drainMs, 30_000) : 5_000 };
  return undefined;
}
