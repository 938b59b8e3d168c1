// Keeps a flood of junk connections from drowning the audit log (100k of them once
// rotated away every record of real logins). Per source (a service and a client
// address or uid) and interval, the first few connections that never log in are recorded
// in full; the rest become one `connection.failed.repeated` record with their count and
// error codes. A connection's `opened` record is therefore held until its outcome is
// known (or for holdMs). Logins that succeed are always recorded in full.
import type { AuditEvent, AuditSink, ClientInfo } from './types.js';

export interface FloodGuardOptions {
  /** Length of a source's counting window (default 10 s). */
  intervalMs?: number;
  /** Connections without a login recorded in full per source and window (default 20). */
  fullPerInterval?: number;
  /** How long an `opened` record waits for its outcome before it is written anyway (default 60 s, past the handshake deadlines, so silent clients are counted too). */
  holdMs?: number;
  now?: () => number;
}

export interface FloodGuard extends AuditSink {
  /** Writes held records and due summaries now (before a flush or close). */
  drain(): void;
}

type Opened = Extract<AuditEvent, { type: 'connection.opened' }>;

interface Window {
  start: number;
  full: number;
  suppressed: number;
  codes: Record<string, number>;
  reason?: string;
  service: string;
  client: ClientInfo;
}

export function createFloodGuard(sink: AuditSink, options: FloodGuardOptions = {}): FloodGuard {
  const intervalMs = options.intervalMs ?? 10_000;
  const fullPerInterval = options.fullPerInterval ?? 20;
  const holdMs = options.holdMs ?? 60_000;
  const now = options.now ?? Date.now;
  // Held in the order opened, so by deadline (the same holdMs for all): one timer, armed for
  // the oldest, instead of a setTimeout and a clearTimeout per connection.
  const held = new Map<string, { opened: Opened; due: number }>();
  let holdTimer: NodeJS.Timeout | undefined;
  const writeDue = (): void => {
    holdTimer = undefined;
    const t = performance.now();
    for (const [id, h] of held) {
      if (h.due > t) return armHold(h.due - t);
      held.delete(id);
      sink.record(h.opened);
    }
  };
  const armHold = (ms: number): void => {
    holdTimer = setTimeout(writeDue, ms);
    holdTimer.unref();
  };
  const dropping = new Set<string>(); // connections whose records are being counted, not written
  const windows = new Map<string, Window>();

  const sourceOf = (opened: Opened): string => `${opened.service}\0${opened.client.transport}\0${opened.client.address ?? ''}\0${opened.client.uid ?? ''}`;

  const summarize = (key: string, w: Window): void => {
    windows.delete(key);
    if (w.suppressed === 0) return;
    sink.record({
      type: 'connection.failed.repeated',
      service: w.service,
      client: w.client,
      count: w.suppressed,
      codes: w.codes,
      reason: w.reason ?? 'closed before the login',
      since: new Date(w.start).toISOString(),
    });
  };

  const windowFor = (opened: Opened): Window => {
    const key = sourceOf(opened);
    let w = windows.get(key);
    if (w && now() - w.start >= intervalMs) {
      summarize(key, w);
      w = undefined;
    }
    if (!w) {
      const { transport, address, uid } = opened.client;
      w = { start: now(), full: 0, suppressed: 0, codes: {}, service: opened.service, client: { transport, address, uid } };
      windows.set(key, w);
    }
    return w;
  };

  /** The held `opened` record of a connection, no longer held. */
  const release = (id: string): Opened | undefined => {
    const h = held.get(id);
    if (!h) return undefined;
    held.delete(id);
    return h.opened;
  };

  /** A connection ended without a login: in full while the source's window has room, else counted. */
  const endedWithoutLogin = (opened: Opened, event: AuditEvent, code: string, reason?: string): void => {
    const w = windowFor(opened);
    if (w.full < fullPerInterval) {
      w.full++;
      sink.record(opened);
      sink.record(event);
      return;
    }
    w.suppressed++;
    w.codes[code] = (w.codes[code] ?? 0) + 1;
    w.reason ??= reason;
    if (event.type !== 'connection.closed') dropping.add(opened.connectionId);
  };

  // Windows of sources that went quiet still get their summary.
  const sweeper = setInterval(() => {
    for (const [key, w] of windows) if (now() - w.start >= intervalMs) summarize(key, w);
  }, intervalMs);
  sweeper.unref();

  return {
    record(event) {
      switch (event.type) {
        case 'connection.opened': {
          held.set(event.connectionId, { opened: event, due: performance.now() + holdMs });
          if (!holdTimer) armHold(holdMs);
          return;
        }
        case 'connection.failed': {
          const opened = release(event.connectionId);
          if (opened) return endedWithoutLogin(opened, event, event.code, event.reason);
          break;
        }
        case 'connection.closed': {
          if (dropping.delete(event.connectionId)) return;
          const opened = release(event.connectionId);
          if (opened) return endedWithoutLogin(opened, event, 'closed');
          break;
        }
        default: {
          // Anything else about a held connection (it authenticated, a cancel was forwarded): it is real.
          const id = 'connectionId' in event ? event.connectionId : undefined;
          const opened = id ? release(id) : undefined;
          if (opened) sink.record(opened);
        }
      }
      sink.record(event);
    },
    drain() {
      for (const id of [...held.keys()]) {
        const opened = release(id);
        if (opened) sink.record(opened);
      }
      for (const [key, w] of windows) summarize(key, w);
    },
  };
}
