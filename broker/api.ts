// BrokerApi: the one contract every UI uses (the Electron renderer through the preload
// bridge, the browser through the control API, the CLI through the control API).
// Types only: plain JSON-serialisable data, no secrets anywhere (ids and provider
// names, never values).
import type { AuditRecord } from './audit/types.js';

export type TargetState =
  | { state: 'stopped' }
  | { state: 'listening'; address: string }
  | { state: 'error'; reason: string };

export interface TargetInfo {
  name: string;
  /** The connector / protocol, e.g. `pg`, `mysql`, `ssh`. */
  connector: string;
  /** The configured listenOn, as written in the config (`tcp://127.0.0.1:5433`, `unix:///…`). */
  listenOn: string;
  status: TargetState;
  /** Open client connections. */
  connections: number;
  /** Earliest expiry among the credentials the service last used, ISO 8601. */
  credentialExpiresAt?: string;
  /** Identity session the service's credentials depend on (issue: identities). */
  identity?: string;
  /** SSH connector: the broker's host key fingerprint (SHA256:…), for known_hosts pinning. */
  hostKeyFingerprint?: string;
}

export type SessionState = 'active' | 'refreshing' | 'refresh-failed' | 'login-needed' | 'logged-out';

export interface IdentitySessionInfo {
  name: string;
  issuer: string;
  state: SessionState;
  /** When the current ID/access token expires, ISO 8601. */
  expiresAt?: string;
  /** Human-readable reason for refresh-failed / login-needed. Never a token. */
  reason?: string;
}

/** What the UI needs to continue a login it asked for. */
export type LoginStart =
  | { flow: 'authorization_code'; url: string }
  | { flow: 'device_code'; verificationUri: string; verificationUriComplete?: string; userCode: string };

export interface AuditQuery {
  service?: string;
  outcome?: 'ok' | 'failed';
  /** Newest first; default 200. */
  limit?: number;
}

/** A target as the add/edit form submits it. Credentials are provider references only. */
export interface TargetInput {
  name: string;
  connector: string;
  listenOn: string;
  credentials: Record<string, { from: string; get: string } | { literal: string }>;
  config?: Record<string, unknown>;
  /** For `from: keychain` only: a value the broker stores in the OS keychain under `get`. */
  keychainValues?: Record<string, string>;
  /** Name of the target being edited (renaming), when not new. */
  previousName?: string;
}

export type BrokerEvent =
  | { type: 'target.started'; name: string; address: string }
  | { type: 'target.stopped'; name: string }
  | { type: 'target.failed'; name: string; reason: string }
  | { type: 'connection.opened'; name: string; connectionId: string }
  | { type: 'connection.closed'; name: string; connectionId: string }
  | { type: 'connection.failed'; name: string; connectionId: string; code: string; reason: string }
  | { type: 'credential.fetched'; name: string; provider: string; id: string; expiresAt?: string }
  | { type: 'credential.rotated'; name: string; provider: string; id: string }
  | { type: 'credential.expiring'; name: string; provider: string; id: string; expiresAt: string }
  | { type: 'session.changed'; session: IdentitySessionInfo }
  | { type: 'session.expiring'; identity: string; expiresAt: string }
  | { type: 'session.expired'; identity: string }
  | { type: 'audit'; record: AuditRecord };

export interface BrokerApi {
  listTargets(): Promise<TargetInfo[]>;
  startTarget(name: string): Promise<TargetInfo>;
  stopTarget(name: string): Promise<TargetInfo>;
  saveTarget(input: TargetInput): Promise<TargetInfo>;
  listSessions(): Promise<IdentitySessionInfo[]>;
  login(identity: string): Promise<LoginStart>;
  logout(identity: string): Promise<void>;
  recentAudit(query?: AuditQuery): Promise<AuditRecord[]>;
  /** Live events; returns the unsubscribe function. */
  subscribe(listener: (event: BrokerEvent) => void): () => void;
}

/** The method names, for the preload bridge and the control API's allow-list. */
export const BROKER_API_METHODS = [
  'listTargets',
  'startTarget',
  'stopTarget',
  'saveTarget',
  'listSessions',
  'login',
  'logout',
  'recentAudit',
  'subscribe',
] as const satisfies readonly (keyof BrokerApi)[];

/**
 * What the identity layer (broker/identity/) offers the API implementation. The desktop
 * code depends on this interface only; the identity code implements it.
 */
export interface IdentitySessions {
  list(): IdentitySessionInfo[];
  login(name: string, opts?: { signal?: AbortSignal }): Promise<LoginStart>;
  logout(name: string): Promise<void>;
  /** session.changed / session.expiring / session.expired events. */
  subscribe(listener: (event: BrokerEvent) => void): () => void;
}
