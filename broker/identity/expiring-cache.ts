// Short-lived credentials shared by every connection that needs them: reused until a
// margin before they expire, fetched once for all concurrent callers (bound by the
// fetch's own timeout, not one caller's signal), and fetched anew when the settings
// they came from (the key) change.
import { raceSignal } from '../net/race-signal.js';

export interface ExpiringCache<T extends { expiresAt: Date }> {
  get(name: string, key: string, fetch: () => Promise<T>, signal: AbortSignal): Promise<T>;
}

export function createExpiringCache<T extends { expiresAt: Date }>(opts: { marginMs: number; now: () => number }): ExpiringCache<T> {
  const cache = new Map<string, { key: string; value: T }>();
  const inflight = new Map<string, Promise<T>>();
  return {
    get(name, key, fetch, signal) {
      const hit = cache.get(name);
      if (hit && hit.key === key && opts.now() < hit.value.expiresAt.getTime() - opts.marginMs) return Promise.resolve(hit.value);
      const flight = `${name}\u0000${key}`;
      let pending = inflight.get(flight);
      if (!pending) {
        pending = fetch().then((value) => {
          cache.set(name, { key, value });
          return value;
        });
        pending.catch(() => {}).finally(() => inflight.delete(flight));
        inflight.set(flight, pending);
      }
      return raceSignal(pending, signal);
    },
  };
}
