// The resolver's cache of values with an expiry (leases, STS credentials): kept per
// provider+id until `margin` before they expire, with the services that used each one
// (credential.expiring is audited for each of them when a value reaches the margin).
// Values without an expiry are never cached: a rotated file or keychain item is picked
// up by the next connection.
import type { AuditSink } from '../audit/types.js';
import { shownId } from './providers/literal.js';
import type { SecretValue } from './types.js';

export interface CacheEntry {
  value: Buffer;
  expiresAt: Date;
}

export const cacheKey = (provider: string, id: string): string => `${provider}\u0000${id}`;

export interface ValueCache {
  /** A value still good for longer than the margin; counts as use by `service`. */
  get(service: string, key: string): CacheEntry | undefined;
  /** Keeps a fetched value, unless invalidate() ran since `generation` was read. */
  remember(service: string, key: string, v: SecretValue, generation: number): void;
  /** Bumped by invalidate(): a fetch that started before must not repopulate the cache. */
  generation(): number;
  /** Drops the values one service used (the target rejected them), or all. */
  invalidate(service?: string): void;
}

export function createValueCache(opts: { audit: AuditSink; margin: number; now: () => number }): ValueCache {
  const { audit, margin, now } = opts;
  const cache = new Map<string, CacheEntry>();
  const usedBy = new Map<string, Set<string>>();
  const expiring = new Map<string, NodeJS.Timeout>();
  let generation = 0;

  const use = (service: string, key: string): void => {
    const keys = usedBy.get(service);
    if (keys) keys.add(key);
    else usedBy.set(service, new Set([key]));
  };

  const watchExpiry = (key: string, expiresAt: Date): void => {
    clearTimeout(expiring.get(key));
    const timer = setTimeout(() => {
      expiring.delete(key);
      if (cache.get(key)?.expiresAt !== expiresAt) return;
      const [provider, rawId] = key.split('\u0000') as [string, string];
      const id = shownId(provider, rawId);
      for (const [service, keys] of usedBy) {
        if (keys.has(key)) audit.record({ type: 'credential.expiring', service, provider, id, expiresAt: expiresAt.toISOString() });
      }
    }, Math.max(0, expiresAt.getTime() - margin - now()));
    timer.unref();
    expiring.set(key, timer);
  };

  return {
    get(service, key) {
      const hit = cache.get(key);
      if (hit && now() < hit.expiresAt.getTime() - margin) {
        // A cache hit also counts as use: credential.expiring goes to every service using it.
        use(service, key);
        return hit;
      }
      if (hit) cache.delete(key);
      return undefined;
    },
    remember(service, key, v, startGeneration) {
      if (startGeneration !== generation) return;
      if (!v.expiresAt || now() >= v.expiresAt.getTime() - margin) return;
      cache.set(key, { value: Buffer.from(v.value), expiresAt: v.expiresAt });
      watchExpiry(key, v.expiresAt);
      use(service, key);
    },
    generation: () => generation,
    invalidate(service) {
      generation++;
      if (service === undefined) {
        cache.clear();
        usedBy.clear();
        for (const t of expiring.values()) clearTimeout(t);
        expiring.clear();
        return;
      }
      for (const key of usedBy.get(service) ?? []) cache.delete(key);
      usedBy.delete(service);
    },
  };
}
