// Query cancellation through the broker. The client saw the backend's own
// BackendKeyData, so its CancelRequest (sent on a fresh connection to our listener)
// carries the backend's pid and secret; we forward it to the backend that issued them,
// using the same transport (TLS or not) as the session. Unknown keys are dropped
// silently, as PostgreSQL itself never answers a cancel request.
import { timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';

export interface CancelTarget {
  /** Opens a connection to the backend ready to carry a cancel request (TLS already negotiated if the session used it). */
  open(signal: AbortSignal): Promise<Socket>;
}

interface Entry {
  secret: Buffer;
  target: CancelTarget;
  connectionId: string;
}

export interface CancelRegistry {
  add(pid: number, secret: Buffer, target: CancelTarget, connectionId: string): () => void;
  find(pid: number, secret: Buffer): { target: CancelTarget; connectionId: string } | undefined;
  readonly size: number;
}

export function createCancelRegistry(): CancelRegistry {
  // pid is unique per backend host at a time; several targets could reuse a pid, so keep a list.
  const byPid = new Map<number, Entry[]>();
  return {
    add(pid, secret, target, connectionId) {
      const entry: Entry = { secret, target, connectionId };
      const list = byPid.get(pid) ?? [];
      list.push(entry);
      byPid.set(pid, list);
      return () => {
        const cur = byPid.get(pid);
        if (!cur) return;
        const rest = cur.filter((e) => e !== entry);
        if (rest.length) byPid.set(pid, rest);
        else byPid.delete(pid);
      };
    },
    find(pid, secret) {
      const entry = byPid.get(pid)?.find((e) => e.secret.length === secret.length && timingSafeEqual(e.secret, secret));
      return entry && { target: entry.target, connectionId: entry.connectionId };
    },
    get size() {
      let n = 0;
      for (const list of byPid.values()) n += list.length;
      return n;
    },
  };
}
