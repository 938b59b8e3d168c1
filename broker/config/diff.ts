// What a config reload changes. Services are matched by name; line numbers are ignored
// so that editing a comment above a service does not restart it.

import { isDeepStrictEqual } from 'node:util';
import type { BrokerConfig, CredentialSpec, ServiceConfig } from './types.js';

export interface ServiceDiff {
  added: ServiceConfig[];
  removed: ServiceConfig[];
  /** The new versions of services whose settings changed. */
  changed: ServiceConfig[];
  /** The new versions (fresh line numbers) of services that can keep running. */
  unchanged: ServiceConfig[];
}

export function diffServices(oldCfg: BrokerConfig, newCfg: BrokerConfig): ServiceDiff {
  const before = new Map(oldCfg.services.map((s) => [s.name, s]));
  const after = new Set(newCfg.services.map((s) => s.name));
  const diff: ServiceDiff = { added: [], removed: [], changed: [], unchanged: [] };
  for (const service of newCfg.services) {
    const old = before.get(service.name);
    if (!old) diff.added.push(service);
    else if (sameService(old, service)) diff.unchanged.push(service);
    else diff.changed.push(service);
  }
  diff.removed = oldCfg.services.filter((s) => !after.has(s.name));
  return diff;
}

export function sameService(a: ServiceConfig, b: ServiceConfig): boolean {
  return isDeepStrictEqual(comparable(a), comparable(b));
}

function comparable(s: ServiceConfig): Omit<ServiceConfig, 'line'> {
  const { line: _line, credentials, ...rest } = s;
  const creds: Record<string, Omit<CredentialSpec, 'line'>> = {};
  for (const [key, { provider, id }] of Object.entries(credentials)) creds[key] = { provider, id };
  return { ...rest, credentials: creds as Record<string, CredentialSpec> };
}
