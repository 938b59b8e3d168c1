// An in-memory audit sink for tests: same feed behaviour as the file log, no disk.

import { createAuditFeed } from './audit-log.js';
import type { AuditLog } from './audit-log.js';
import type { AuditRecord } from './types.js';

export interface MemoryAudit extends AuditLog {
  /** Every record so far, oldest first (not capped like recent()). */
  readonly records: AuditRecord[];
  clear(): void;
}

export function createMemoryAudit(options: { now?: () => Date; recentLimit?: number } = {}): MemoryAudit {
  const feed = createAuditFeed(options.now ?? (() => new Date()), options.recentLimit ?? 1000);
  const records: AuditRecord[] = [];
  return {
    path: ':memory:',
    records,
    record(event) {
      const record = feed.publish(event);
      if (record) records.push(record);
    },
    subscribe: feed.subscribe,
    recent: feed.recent,
    clear: () => void records.splice(0),
    flush: async () => {},
    close: async () => {},
  };
}
