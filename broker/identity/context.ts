// What the identity-backed providers (aws-*, vault) share: the current `identities:`
// entries, the OIDC sessions, a reader for `{from, get}` secrets, audit and logging,
// and the per-request limits. The runtime updates `entries` on every config (re)load.
import type { AuditSink } from '../audit/types.js';
import type { CredentialSpec } from '../config/types.js';
import type { Logger } from '../log.js';
import type { IdentityConfig } from './config.js';
import type { IdentitySessionManager } from './sessions.js';

export interface IdentityContext {
  entry(name: string): IdentityConfig | undefined;
  sessions: IdentitySessionManager;
  readSecret(spec: CredentialSpec, signal: AbortSignal): Promise<Buffer>;
  audit: AuditSink;
  logger: Logger;
  /** A provider call that has not finished after this long fails. Default 20 s. */
  timeoutMs: number;
  /** Short-lived credentials are reused until this long before they expire. Default 60 s. */
  marginMs: number;
  now(): number;
}

/** First line of an error's message, with anything JWT-shaped or key-shaped masked. */
export function safeReason(err: unknown): string {
  const e = err as { name?: string; message?: string };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return e.name === 'TimeoutError' ? 'timed out' : 'aborted';
  const text = String(e?.message ?? err).split('\n')[0]!;
  // AWS SDK errors carry the service's error code as the class name (InvalidIdentityTokenException).
  const named = e?.name && !e.name.endsWith('Error') && !text.startsWith(e.name) ? `${e.name}: ${text}` : text;
  return named
    .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '[token]')
    .replace(/\b(hvs|hvb|s)\.[\w-]{16,}/g, '[token]')
    .slice(0, 300);
}
