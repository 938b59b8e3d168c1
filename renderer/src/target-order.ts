// How the target list is ordered: pinned favourites first, then by the chosen key. Recent
// use comes from the audit feed (the last time a client connected), so it needs no
// extra bookkeeping in the broker.
import type { TargetInfo } from '../../broker/api.js';
import type { AuditRecord } from '../../broker/audit/types.js';
import { healthOf, HEALTH_RANK } from './health.js';

export type SortKey = 'name' | 'recent' | 'health';

export const SORT_LABELS: Record<SortKey, string> = { name: 'Name', recent: 'Recent use', health: 'Health' };

/** The last time each target had a client connection, from audit records (any order). */
export function lastUse(records: readonly AuditRecord[]): Map<string, string> {
  const last = new Map<string, string>();
  for (const r of records) {
    if (r.type !== 'connection.opened') continue;
    const prev = last.get(r.service);
    if (!prev || prev < r.time) last.set(r.service, r.time);
  }
  return last;
}

export function orderTargets(targets: readonly TargetInfo[], opts: { sort: SortKey; pinned: ReadonlySet<string>; lastUse: ReadonlyMap<string, string> }): TargetInfo[] {
  const byName = (a: TargetInfo, b: TargetInfo) => a.name.localeCompare(b.name);
  const byKey = (a: TargetInfo, b: TargetInfo): number => {
    if (opts.sort === 'recent') {
      const ua = opts.lastUse.get(a.name) ?? '';
      const ub = opts.lastUse.get(b.name) ?? '';
      if (ua !== ub) return ua < ub ? 1 : -1;
    } else if (opts.sort === 'health') {
      // Worst first: what needs attention is at the top.
      const d = HEALTH_RANK[healthOf(a).type] - HEALTH_RANK[healthOf(b).type];
      if (d !== 0) return d;
    }
    return byName(a, b);
  };
  return [...targets].sort((a, b) => {
    const pa = opts.pinned.has(a.name) ? 0 : 1;
    const pb = opts.pinned.has(b.name) ? 0 : 1;
    return pa - pb || byKey(a, b);
  });
}

/** Pins and the sort choice, kept per browser profile (they are view preferences, not config). */
export function loadPrefs(storage: Pick<Storage, 'getItem'>): { sort: SortKey; pinned: Set<string> } {
  let pinned: string[] = [];
  try {
    const parsed: unknown = JSON.parse(storage.getItem('secretless-desktop-pinned') ?? '[]');
    if (Array.isArray(parsed)) pinned = parsed.filter((p): p is string => typeof p === 'string');
  } catch {
    // A hand-edited or corrupt value: start without pins.
  }
  const sort = storage.getItem('secretless-desktop-sort');
  return { sort: sort === 'recent' || sort === 'health' ? sort : 'name', pinned: new Set(pinned) };
}

export function savePrefs(storage: Pick<Storage, 'setItem'>, prefs: { sort: SortKey; pinned: ReadonlySet<string> }): void {
  storage.setItem('secretless-desktop-pinned', JSON.stringify([...prefs.pinned].sort()));
  storage.setItem('secretless-desktop-sort', prefs.sort);
}
