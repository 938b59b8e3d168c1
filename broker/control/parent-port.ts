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
  | { type: 'resume' };

export interface ParentPort {
  postMessage(message: ToMain): void;
  on(event: 'message', listener: (e: { data: unknown }) => void): void;
}

export function parentPort(): ParentPort | undefined {
  return (process as unknown as { parentPort?: ParentPort }).parentPort;
}

export function parseFromMain(data: unknown): FromMain | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const m = data as { type?: unknown; drainMs?: unknown };
  if (m.type === 'resume') return { type: 'resume' };
  if (m.type === 'stop') return { type: 'stop', drainMs: typeof m.drainMs === 'number' && m.drainMs >= 0 ? Math.min(m.drainMs, 30_000) : 5_000 };
  return undefined;
}
