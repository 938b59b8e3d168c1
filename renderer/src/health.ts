// A target's health as the list shows it: a colour (the dot) and a label with the reason
// in the words the client was told. The broker derives it from what happened
// (TargetInfo.health); this only words it.
import type { TargetHealth, TargetInfo } from '../../broker/api.js';
import { clock } from './time.js';

export type HealthColour = 'green' | 'grey' | 'amber' | 'red';

/** Sort rank, worst first. */
export const HEALTH_RANK: Record<TargetHealth['type'], number> = {
  'listener-failed': 0,
  'credentials-rejected': 1,
  unreachable: 2,
  'provider-failed': 3,
  'tls-failed': 4,
  failed: 5,
  'needs-login': 6,
  listening: 7,
  ok: 8,
  stopped: 9,
};

export function healthOf(t: TargetInfo): TargetHealth {
  return t.health;
}

export function healthColour(h: TargetHealth): HealthColour {
  switch (h.type) {
    case 'ok':
    case 'listening':
      return 'green';
    case 'stopped':
      return 'grey';
    case 'needs-login':
      return 'amber';
    default:
      return 'red';
  }
}

const PROBLEM: Record<Exclude<TargetHealth['type'], 'ok' | 'listening' | 'stopped'>, string> = {
  'credentials-rejected': 'Credentials rejected',
  unreachable: 'Target unreachable',
  'provider-failed': 'Credential provider failed',
  'tls-failed': 'TLS failed',
  'needs-login': 'Needs login',
  'listener-failed': 'Not listening',
  failed: 'Failed',
};

export function healthLabel(h: TargetHealth, connections = 0): string {
  const open = connections > 0 ? ` · ${connections} connection${connections === 1 ? '' : 's'}` : '';
  switch (h.type) {
    case 'stopped':
      return 'Stopped';
    case 'listening':
      return `Listening${open}`;
    case 'ok':
      return `Last login ok ${clock(h.at)}${h.latencyMs !== undefined ? ` (${Math.round(h.latencyMs)} ms)` : ''}${open}`;
    default:
      return `${PROBLEM[h.type]}: ${h.reason}${open}`;
  }
}
