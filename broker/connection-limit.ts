// The broker-wide cap on open client connections. Each brokered connection holds two
// descriptors (client and target); the cap keeps the process below its descriptor limit
// with room to spare for the control API, the audit log and providers, so a flood of
// clients gets the protocol's "too many connections" instead of a bare reset, and the
// UI stays reachable. Reaching the cap is reported once per episode, not per client.
import { readFileSync } from 'node:fs';

export interface ConnectionLimit {
  readonly limit: number;
  readonly open: number;
  /** Counts a new connection in, or returns false when the broker is at its limit. */
  tryOpen(): boolean;
  /** A counted connection is over. */
  close(): void;
}

export interface ConnectionLimitEvents {
  reached(limit: number): void;
  /** Back below the limit (with some room, so a busy broker does not flap), with how many were refused meanwhile. */
  cleared(limit: number, refused: number): void;
}

export function createConnectionLimit(limit: number, events: ConnectionLimitEvents): ConnectionLimit {
  let open = 0;
  let refused = 0;
  let reached = false;
  const clearBelow = limit - Math.max(1, Math.floor(limit / 10));
  return {
    limit,
    get open() {
      return open;
    },
    tryOpen() {
      if (open < limit) {
        open++;
        return true;
      }
      refused++;
      if (!reached) {
        reached = true;
        events.reached(limit);
      }
      return false;
    },
    close() {
      open--;
      if (reached && open <= clearBelow) {
        reached = false;
        events.cleared(limit, refused);
        refused = 0;
      }
    },
  };
}

/**
 * The process's open-file (soft) limit, from /proc on Linux. Node raises the soft limit to
 * the hard limit itself at start (src/node.cc), so this is the hard limit `ulimit -Hn` set.
 */
export function descriptorLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft && /^\d+$/.test(soft) ? Number(soft) : undefined;
  } catch {
    return undefined;
  }
}

/** Descriptors kept free of client connections: the control API, audit and log files, providers, DNS. */
export const RESERVED_DESCRIPTORS = 128;

/** The default cap: half of what the descriptor limit leaves after the reserve (two per connection). */
export function defaultConnectionLimit(descriptorLimit: number | undefined): number {
  if (!descriptorLimit || !Number.isFinite(descriptorLimit)) return 10_000;
  return Math.max(16, Math.floor((descriptorLimit - RESERVED_DESCRIPTORS) / 2));
}
