// What the user allowed, remembered: a process until it exits (keyed on pid and start
// time, so a later process that reuses the pid gets nothing), or an executable for a
// while. One scope is one service, or one key of an ssh-agent service. Held in memory
// only: a restarted broker asks again. lock() forgets everything.

export interface GrantScope {
  service: string;
  /** ssh-agent: the key's fingerprint (approvals are per key). */
  key?: string;
}

export interface ClientProcess {
  pid: number;
  startTime: string;
  exe?: string;
}

export type Grant =
  | { type: 'process'; scope: GrantScope; pid: number; startTime: string; exe?: string; grantedAt: number }
  | { type: 'executable'; scope: GrantScope; exe: string; until: number; grantedAt: number };

export interface Grants {
  /** The grant that covers this process now, if any. */
  find(scope: GrantScope, client: ClientProcess, now?: number): Grant | undefined;
  add(grant: Grant): void;
  /** Forgets every grant; returns how many there were. */
  clear(): number;
  list(): Grant[];
  /** Drops process grants whose process is gone (isAlive says so) and expired executable grants. */
  prune(isAlive: (pid: number, startTime: string) => boolean, now?: number): void;
}

const scopeKey = (s: GrantScope): string => `${s.service}\u0000${s.key ?? ''}`;

export function createGrants(): Grants {
  const byScope = new Map<string, Grant[]>();
  return {
    find(scope, client, now = Date.now()) {
      return byScope.get(scopeKey(scope))?.find((g) =>
        g.type === 'process' ? g.pid === client.pid && g.startTime === client.startTime : client.exe !== undefined && g.exe === client.exe && g.until > now,
      );
    },
    add(grant) {
      const key = scopeKey(grant.scope);
      const list = byScope.get(key) ?? [];
      list.push(grant);
      byScope.set(key, list);
    },
    clear() {
      const n = [...byScope.values()].reduce((sum, l) => sum + l.length, 0);
      byScope.clear();
      return n;
    },
    list: () => [...byScope.values()].flat(),
    prune(isAlive, now = Date.now()) {
      for (const [key, list] of byScope) {
        const kept = list.filter((g) => (g.type === 'process' ? isAlive(g.pid, g.startTime) : g.until > now));
        if (kept.length) byScope.set(key, kept);
        else byScope.delete(key);
      }
    },
  };
}
