// A target's health as the list shows it: a colour (the dot) and a label with the reason
// in the words the client would have seen. Derived from the broker's TargetInfo.
import type { TargetInfo } from '../../broker/api.js';

export type Health =
  | { type: 'stopped' }
  | { type: 'listening' }
  | { type: 'ok'; at?: string; latencyMs?: number }
  | { type: 'rejected'; reason: string }
  | { type: 'unreachable'; reason: string }
  | { type: 'provider-failed'; reason: string }
  | { type: 'tls-failed'; reason: string }
  | { type: 'needs-login'; reason: string }
  | { type: 'listener-failed'; reason: string };

export type HealthColour = 'green' | 'grey' | 'amber' | 'red';

/** Sort rank, worst first. */
export const HEALTH_RANK: Record<Health['type'], number> = {
  'listener-failed': 0,
  rejected: 1,
  unreachable: 2,
  'provider-failed': 3,
  'tls-failed': 4,
  'needs-login': 5,
  listening: 6,
  ok: 7,
  stopped: 8,
};

export function healthOf(t: TargetInfo): Health {
  if (t.status.state === 'stopped') return { type: 'stopped' };
  if (t.status.state === 'error') return { type: 'listener-failed', reason: t.status.reason };
  return { type: 'listening' };
}

export function healthColour(h: Health): HealthColour {
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

export function healthLabel(h: Health, connections = 0): string {
  const open = connections > 0 ? ` · ${connections} connection${connections === 1 ? '' : 's'}` : '';
  switch (h.type) {
    case 'stopped':
      return 'Stopped';
    case 'listening':
      return `Listening${open}`;
    case 'ok':
      return `Last login ok${h.at ? ` ${new Date(h.at).toLocaleTimeString()}` : ''}${open}`;
    case 'rejected':
      return `Credentials rejected: ${h.reason}`;
    case 'unreachable':
      return `Target unreachable: ${h.reason}`;
    case 'provider-failed':
      return `Credential provider failed: ${h.reason}`;
    case 'tls-failed':
      return `TLS failed: ${h.reason}`;
    case 'needs-login':
      return `Needs login: ${h.reason}`;
    case 'listener-failed':
      return `Not listening: ${h.reason}`;
  }
}
