// Rotation: credential.rotated once per service and provider whose values differ from
// what that service got last (all changed ids in one record), never on a first fetch
// or for literals. It keeps a keyed digest of each value, never the value; the
// per-process key keeps a memory dump from being a guessing oracle.
import { createHmac, randomBytes } from 'node:crypto';
import type { AuditSink } from '../audit/types.js';
import type { Logger } from '../log.js';
import { LITERAL_PROVIDER, shownId } from './providers/literal.js';
import type { SecretValue } from './types.js';

export interface RotationDetector {
  /** `fetched`: provider\0id -> value, as fetched for one connection of `service`. */
  note(service: string, fetched: Map<string, SecretValue>): void;
}

export function createRotationDetector(opts: { audit: AuditSink; logger: Logger }): RotationDetector {
  const digestKey = randomBytes(32);
  const lastSeen = new Map<string, string>();
  return {
    note(service, fetched) {
      const changed = new Map<string, string[]>();
      for (const [key, v] of fetched) {
        const [provider, rawId] = key.split('\u0000') as [string, string];
        if (provider === LITERAL_PROVIDER) continue;
        const seenKey = `${service}\u0000${key}`;
        const digest = createHmac('sha256', digestKey).update(v.value).digest('base64');
        const before = lastSeen.get(seenKey);
        lastSeen.set(seenKey, digest);
        if (before !== undefined && before !== digest) changed.set(provider, [...(changed.get(provider) ?? []), shownId(provider, rawId)]);
      }
      for (const [provider, ids] of changed) {
        const id = ids.join(', ');
        opts.audit.record({ type: 'credential.rotated', service, provider, id });
        opts.logger.info('credential rotated', { service, provider, id });
      }
    },
  };
}
