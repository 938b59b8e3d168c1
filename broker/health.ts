// Target health from what happened: the audit feed says whether the last login to a
// target (a client's or a test's) worked, and why not. Pure functions plus a small
// tracker; the API joins them with the listener state and the identity sessions.
import type { HealthProblem, SessionState, TargetHealth } from './api.js';
import type { AuditRecord } from './audit/types.js';
import type { BrokerErrorCode } from './errors.js';

/**
 * The health problem a catalog code stands for; undefined when the failure was the
 * client's doing (a malformed message, a client that gave up or never logged in), which
 * says nothing about the target.
 */
export function healthProblemFor(code: string, reason: string): HealthProblem | undefined {
  switch (code) {
    case 'target_rejected_credentials':
      return 'credentials-rejected';
    case 'target_unreachable':
      return 'unreachable';
    case 'provider_failed':
      return 'provider-failed';
    case 'tls_failed':
    case 'host_key_mismatch':
      return 'tls-failed';
    case 'timeout':
      // The client's own timeouts (no startup message, no login) are not the target's.
      return /\bclient\b|startup message/.test(reason) ? undefined : 'unreachable';
    case 'protocol_violation':
    case 'packet_too_large':
    case 'command_refused':
    case 'service_stopping':
    case 'not_approved': // the user said no to a program: nothing is wrong with the target
      return undefined;
    default:
      return 'failed';
  }
}

/** What the last login attempts of one service showed. */
interface LoginHistory {
  last?: TargetHealth;
  lastOkAt?: string;
}

export interface HealthTracker {
  /** Feeds one audit record; returns the services whose login history changed. */
  observe(record: AuditRecord): string[];
  /** The login-derived part of a service's health, if any login happened. */
  history(service: string): TargetHealth | undefined;
}

export function createHealthTracker(): HealthTracker {
  const byService = new Map<string, LoginHistory>();
  const entry = (s: string): LoginHistory => {
    let h = byService.get(s);
    if (!h) byService.set(s, (h = {}));
    return h;
  };
  const failed = (service: string, at: string, code: BrokerErrorCode, reason: string): string[] => {
    const problem = healthProblemFor(code, reason);
    if (!problem) return [];
    const h = entry(service);
    h.last = { type: problem, at, code, reason, ...(h.lastOkAt ? { lastOkAt: h.lastOkAt } : {}) };
    return [service];
  };
  return {
    observe(r) {
      switch (r.type) {
        case 'connection.authenticated': {
          const h = entry(r.service);
          h.last = { type: 'ok', at: r.time };
          h.lastOkAt = r.time;
          return [r.service];
        }
        case 'target.tested': {
          const h = entry(r.service);
          h.last = { type: 'ok', at: r.time, latencyMs: r.latencyMs };
          h.lastOkAt = r.time;
          return [r.service];
        }
        case 'connection.failed':
        case 'target.test.failed':
          return failed(r.service, r.time, r.code, r.reason);
        case 'service.failed':
          entry(r.service).last = { type: 'listener-failed', at: r.time, code: 'listener_failed', reason: r.reason };
          return [r.service];
        case 'service.started':
        case 'service.stopped':
          // A (re)started service may have new credentials or a new target: old verdicts no longer hold.
          byService.delete(r.service);
          return [r.service];
        default:
          return [];
      }
    },
    history: (service) => byService.get(service)?.last,
  };
}

export interface HealthInputs {
  listener: { state: 'listening' } | { state: 'stopped' } | { state: 'failed'; reason: string };
  history?: TargetHealth;
  /** The identity session the service's credentials depend on. */
  session?: { name: string; state: SessionState; reason?: string };
}

/** Joins the listener state, the login history and the identity session into one health. */
export function targetHealth(input: HealthInputs): TargetHealth {
  const { listener, history, session } = input;
  if (listener.state === 'failed') {
    return history?.type === 'listener-failed' ? history : { type: 'listener-failed', at: new Date().toISOString(), code: 'listener_failed', reason: listener.reason };
  }
  if (listener.state === 'stopped') return { type: 'stopped' };
  if (session && (session.state === 'login-needed' || session.state === 'logged-out')) {
    return {
      type: 'needs-login',
      at: history && 'at' in history ? history.at : new Date(0).toISOString(),
      code: 'login_needed',
      reason: `log in to '${session.name}' first (secretless-desktop login ${session.name})`,
    };
  }
  return history && history.type !== 'listener-failed' ? history : { type: 'listening' };
}

/** Health problems that mean the target does not work for clients right now. */
export function isUnhealthy(h: TargetHealth): boolean {
  return h.type !== 'ok' && h.type !== 'listening' && h.type !== 'stopped';
}

/** One line for a person: "ok 3 min ago", "credentials rejected: …". */
export function healthText(h: TargetHealth, now = Date.now()): string {
  switch (h.type) {
    case 'stopped':
      return 'stopped';
    case 'listening':
      return 'listening (no login yet)';
    case 'ok':
      return `last login ok ${ago(h.at, now)}${h.latencyMs !== undefined ? ` (${h.latencyMs} ms)` : ''}`;
    default:
      return `${h.type.replace('-', ' ')}: ${h.reason}`;
  }
}

function ago(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `on ${iso.slice(0, 10)}`;
}
