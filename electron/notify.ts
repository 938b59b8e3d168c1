// Which OS notifications to show. Plain and stateful (it remembers what it already said),
// no Electron: main.ts feeds it broker events and a periodic expiry check, and shows
// what it returns.
import type { ApprovalAnswer, ApprovalPrompt, BrokerEvent, IdentitySessionInfo, TargetInfo } from '../broker/api.js';
import type { BrokerErrorCode } from '../broker/errors.js';

export interface NotifySettings {
  /** Warn when a credential or session expires within this margin. Default 10 minutes. */
  expiryMarginMs?: number;
  /** At most one auth-failure notification per target within this period. Default 10 minutes. */
  authFailureQuietMs?: number;
}

export interface DesktopNotification {
  /** Stable identity: the same key is never shown twice (for expiries, per expiry time). */
  key: string;
  title: string;
  body: string;
  kind: 'rotated' | 'expiring' | 'expired' | 'failed' | 'auth-failed' | 'broker-restarted' | 'config-error' | 'info' | 'approval';
  /** What a click opens the window at. */
  target?: string;
  identity?: string;
  /** An approval prompt: the notification offers APPROVAL_ACTIONS. */
  approval?: string;
}

/** The answers an approval notification offers, in button order (allow-executable needs a duration: the window has it). */
export const APPROVAL_ACTIONS: readonly { text: string; answer: ApprovalAnswer }[] = [
  { text: 'Allow once', answer: { type: 'allow-once' } },
  { text: 'Allow until it exits', answer: { type: 'allow-process' } },
  { text: 'Deny', answer: { type: 'deny' } },
];

/** "psql wants to use db" with the program's path, pid, app and the time. */
export function approvalNotification(p: ApprovalPrompt): DesktopNotification {
  const exe = p.process.exe ?? p.process.name;
  const name = exe ? exe.replace(/^.*\//, '') : 'A program';
  const where = p.process.parentApp ? ` in ${(p.process.parentApp.exe ?? p.process.parentApp.name ?? '').replace(/^.*\//, '')}` : '';
  const who = exe ? `${exe}${p.process.pid !== undefined ? ` (pid ${p.process.pid})` : ''}${where}` : p.process.address ?? 'an unknown program';
  const key = p.key ? ` with key ${p.key.name} (${p.key.fingerprint})` : '';
  return {
    key: `approval:${p.id}`,
    kind: 'approval',
    approval: p.id,
    target: p.service,
    title: `${name} wants to use ${p.service}`,
    body: `${who} asked at ${new Date(p.requestedAt).toLocaleTimeString()} to use ${p.service}${key}.${p.locked ? ' (Secretless is locked.)' : ''}`,
  };
}

/** Connection failure codes that mean "the credentials did not work". */
export const AUTH_FAILURE_CODES: ReadonlySet<BrokerErrorCode> = new Set<BrokerErrorCode>(['target_rejected_credentials', 'provider_failed', 'unsupported_auth']);

export interface Notifier {
  /** For one broker event, given the current targets. */
  onEvent(event: BrokerEvent, targets: TargetInfo[], now: number): DesktopNotification | undefined;
  /** Expiries now within the margin (each announced once). */
  checkExpiries(targets: TargetInfo[], sessions: IdentitySessionInfo[], now: number): DesktopNotification[];
}

const at = (n: DesktopNotification | undefined, where: { target?: string; identity?: string }): DesktopNotification | undefined => (n ? { ...n, ...where } : undefined);

const minutes = (ms: number): string => {
  const m = Math.max(0, Math.round(ms / 60_000));
  return m <= 1 ? 'within a minute' : `in ${m} minutes`;
};

export function createNotifier(settings: NotifySettings = {}): Notifier {
  const margin = settings.expiryMarginMs ?? 10 * 60_000;
  const quiet = settings.authFailureQuietMs ?? 10 * 60_000;
  const shown = new Set<string>();
  const lastAuthFailure = new Map<string, number>();

  const once = (n: DesktopNotification): DesktopNotification | undefined => {
    if (shown.has(n.key)) return undefined;
    shown.add(n.key);
    return n;
  };

  const expiring = (what: string, key: string, expiresAt: string, now: number): DesktopNotification | undefined => {
    const left = Date.parse(expiresAt) - now;
    if (Number.isNaN(left) || left > margin) return undefined;
    if (left <= 0) return once({ key: `expired:${key}:${expiresAt}`, kind: 'expired', title: `${what} has expired`, body: 'Renew it to keep connecting.' });
    return once({ key: `expiring:${key}:${expiresAt}`, kind: 'expiring', title: `${what} expires ${minutes(left)}`, body: `At ${new Date(expiresAt).toLocaleTimeString()}.` });
  };

  const running = (targets: TargetInfo[], name: string) => targets.some((t) => t.name === name && t.status.state === 'listening');

  return {
    onEvent(event, targets, now) {
      switch (event.type) {
        case 'credential.rotated':
          if (!running(targets, event.name)) return undefined;
          return { key: `rotated:${event.name}:${event.id}:${now}`, kind: 'rotated', target: event.name, title: `Credential rotated for ${event.name}`, body: `${event.provider} ${event.id} changed; new connections use the new value.` };
        case 'credential.expiring':
          return at(expiring(`The credential for ${event.name}`, `credential:${event.name}`, event.expiresAt, now), { target: event.name });
        case 'session.expiring':
          return at(expiring(`The ${event.identity} session`, `session:${event.identity}`, event.expiresAt, now), { identity: event.identity });
        case 'session.expired':
          return once({ key: `expired:session:${event.identity}:${now}`, kind: 'expired', identity: event.identity, title: `The ${event.identity} session has expired`, body: 'Log in again to keep connecting.' });
        case 'approval.requested':
          return once(approvalNotification(event.approval));
        case 'target.failed':
          return { key: `failed:${event.name}:${now}`, kind: 'failed', target: event.name, title: `${event.name} failed to start`, body: event.reason };
        case 'connection.failed': {
          if (!AUTH_FAILURE_CODES.has(event.code)) return undefined;
          const last = lastAuthFailure.get(event.name);
          if (last !== undefined && now - last < quiet) return undefined;
          lastAuthFailure.set(event.name, now);
          return { key: `auth:${event.name}:${now}`, kind: 'auth-failed', target: event.name, title: `Connections to ${event.name} fail to log in`, body: event.reason };
        }
        default:
          return undefined;
      }
    },
    checkExpiries(targets, sessions, now) {
      const out: DesktopNotification[] = [];
      for (const t of targets) {
        if (t.status.state !== 'listening' || !t.credentialExpiresAt) continue;
        const n = at(expiring(`The credential for ${t.name}`, `credential:${t.name}`, t.credentialExpiresAt, now), { target: t.name });
        if (n) out.push(n);
      }
      for (const s of sessions) {
        if (!s.expiresAt || s.state === 'logged-out') continue;
        const n = at(expiring(`The ${s.name} session`, `session:${s.name}`, s.expiresAt, now), { identity: s.name });
        if (n) out.push(n);
      }
      return out;
    },
  };
}
