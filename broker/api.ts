// BrokerApi: the one contract every UI uses (the Electron renderer through the preload
// bridge, the browser through the control API, the CLI through the control API).
// Types only: plain JSON-serialisable data, no secrets anywhere (ids and provider
// names, never values).
import type { AuditRecord } from './audit/types.js';
import type { BrokerErrorCode } from './errors.js';

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
  /** SSH connector: the broker's public host key (`ssh-ed25519 AAAA…`), for a known_hosts line. */
  hostPublicKey?: string;
  /** What happened on the last login to the target (a client's or a test's). */
  health: TargetHealth;
  /** pg / mysql: the database copied connection strings name (`config.database`). */
  database?: string;
  /** ssh: the name copied commands use for the host (`config.hostAlias`), e.g. in known_hosts. */
  hostAlias?: string;
  /** http family: the upstream of a reverse proxy (`config.upstream`); absent for a forward proxy. */
  upstream?: string;
}

/** Why a target is unhealthy; each maps from the catalog code of the last failure. */
export type HealthProblem =
  | 'credentials-rejected' // target_rejected_credentials (28P01, 1045, ssh auth failure)
  | 'unreachable' // target_unreachable, timeout
  | 'provider-failed' // provider_failed: the keychain/file/env/Vault/AWS could not give the credential
  | 'tls-failed' // tls_failed, host_key_mismatch
  | 'needs-login' // the credentials depend on an identity session that needs a login
  | 'listener-failed' // the local listener could not start (port in use, …)
  | 'failed'; // anything else the target or broker refused (target_error, unsupported_auth, …)

/**
 * A target's health, derived from what happened rather than from the listener alone:
 * a listening target whose last login was refused is not healthy.
 */
export type TargetHealth =
  | { type: 'stopped' }
  /** Listening; no login tried since the broker started. */
  | { type: 'listening' }
  /** The last login succeeded (`at`, ISO 8601); latency of a test connection when it was one. */
  | { type: 'ok'; at: string; latencyMs?: number }
  | {
      type: HealthProblem;
      /** When it failed, ISO 8601. */
      at: string;
      /** The error catalog code (broker/errors.ts), or `login_needed` / `listener_failed`. */
      code: BrokerErrorCode | 'login_needed' | 'listener_failed';
      /** The reason as the client was told it (e.g. the PostgreSQL 28P01 message). Never a secret. */
      reason: string;
      /** The last successful login before this failure, if any. */
      lastOkAt?: string;
    };

/** The outcome of testTarget(): a real login to the target through the connector, no client. */
export type TestResult =
  | { type: 'ok'; latencyMs: number; at: string; target: string }
  | { type: 'failed'; code: BrokerErrorCode; reason: string; at: string };

export type SessionState = 'active' | 'refreshing' | 'refresh-failed' | 'login-needed' | 'logged-out';

export interface IdentitySessionInfo {
  name: string;
  /** The identity's type; absent: oidc (a login). Workload identities have no login. */
  type?: 'oidc' | 'github-actions' | 'token-file' | 'token-env';
  /** The token's issuer (`iss`); for a workload identity not read yet, where its token comes from. */
  issuer: string;
  /** Workload identities: the token's `sub` claim (e.g. repo:org/app:ref:refs/heads/main). */
  subject?: string;
  /** Workload identities: the audience the token must carry. */
  audience?: string;
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

/** Where one credential comes from, as the editor shows and submits it. */
export type CredentialRef =
  | { from: string; get: string }
  | { literal: string }
  /** A literal secret written in the file: never shown; submitting `keep` leaves it as it is. */
  | { keep: true };

/** A target as the add/edit form submits it. Credentials are provider references only. */
export interface TargetInput {
  name: string;
  connector: string;
  listenOn: string;
  credentials: Record<string, CredentialRef>;
  config?: Record<string, unknown>;
  /** For `from: keychain` only: a value the broker stores in the OS keychain under `get`. */
  keychainValues?: Record<string, string>;
  /**
   * Keychain ids (`service#account`) the user confirmed may be overwritten. Without it,
   * storing a value under an id that already holds an item fails with
   * `keychain_item_exists` (unless only the target being edited uses it).
   */
  overwriteKeychainItems?: string[];
  /** Name of the target being edited (renaming), when not new. */
  previousName?: string;
}

/** One target as the editor loads it: every credential's reference, never a value. */
export interface TargetDetail {
  name: string;
  connector: string;
  listenOn: string;
  /** Secret literals come back as `{ keep: true }`; non-secret literals (host, port) as they are. */
  credentials: Record<string, CredentialRef>;
  config: Record<string, unknown>;
  /** Keychain ids this target refers to, with the other targets that refer to the same item. */
  keychainItems: { key: string; id: string; sharedWith: string[] }[];
}

export interface DeleteOptions {
  /** Also delete the keychain items only this target uses (shared ones are kept). */
  removeKeychainItems?: boolean;
}

export interface DeleteResult {
  name: string;
  /** Keychain ids deleted. */
  removedKeychainItems: string[];
  /** Keychain ids kept because another target uses them. */
  keptKeychainItems: { id: string; usedBy: string[] }[];
}

/** One field of a connector's form, generated from the connector's spec. */
export interface TemplateField {
  key: string;
  /** `credentials:` entry or `config:` setting. */
  section: 'credentials' | 'config';
  label: string;
  required: boolean;
  /** A secret: offered as a keychain/env/file reference, never as a literal. */
  secret: boolean;
  kind: 'text' | 'number' | 'boolean' | 'multiline' | 'select';
  options?: string[];
  default?: string;
  placeholder?: string;
  help?: string;
}

export interface ConnectorTemplate {
  connector: string;
  label: string;
  /** A listenOn suggestion for a new target (a free-looking loopback port or a socket). */
  listenOn: string;
  /** Whether keys outside `fields` are accepted as credentials (pg: startup parameters). */
  extraCredentials: boolean;
  fields: TemplateField[];
}

/** The running broker itself, so a UI can tell it restarted or that a reload was refused. */
export interface BrokerInfo {
  /** New for every broker process: a change means the broker restarted. */
  instanceId: string;
  startedAt: string;
  version: string;
  configPath: string;
  /** The last config reload the broker refused (it kept the previous config); absent once a reload succeeds. */
  configRejected?: { at: string; reason: string; fields: ApiFieldError[] };
}

/** A problem with one field of a submitted target (`name`, `listenOn`, `credentials.password`, `config.sslmode`). */
export interface ApiFieldError {
  path: string;
  message: string;
}

export type ApiErrorCode =
  | 'invalid_input' // fields[] says which
  | 'not_found'
  | 'conflict' // a target with that name exists, …
  | 'keychain_item_exists' // see keychainConflict; resubmit with overwriteKeychainItems
  | 'keychain_unavailable' // no Secret Service / keychain locked
  | 'config_invalid' // the config file on disk has errors the user must fix first
  | 'unauthorized'
  | 'internal';

/** The JSON body of every control API error (and the fields of an error from any BrokerApi). */
export interface ApiErrorBody {
  error: string;
  code: ApiErrorCode;
  fields?: ApiFieldError[];
  keychainConflict?: { field: string; id: string; usedBy: string[] };
}

/** The keychain id the editor proposes for a credential: `secretless-desktop/<target>#<key>`. */
export function keychainIdFor(target: string, key: string): string {
  return `secretless-desktop/${target}#${key}`;
}

/**
 * The broker process as the desktop app sees it (Electron main sends it to the window as a
 * `broker.state` event; a headless `serve` page never gets one: its broker is the server).
 * config-error: the config file is invalid; the broker waits for it to be fixed, it is not restarted.
 */
export type BrokerRunState =
  | { state: 'starting' }
  | { state: 'running' }
  | { state: 'restarting'; reason: string }
  | { state: 'config-error'; reason: string; file: string; line?: number }
  | { state: 'stopped' };

export type { ApprovalProcess, ApprovalAnsweredBy } from './audit/types.js';
import type { ApprovalProcess, ApprovalAnsweredBy } from './audit/types.js';

/** A pending "may this program use this target?" question (approval: ask, or the broker is locked). */
export interface ApprovalPrompt {
  id: string;
  /** The target (service) name, its connector and listener. */
  service: string;
  connector: string;
  listenOn: string;
  /** ssh-agent: the key the program wants a signature from. */
  key?: { name: string; fingerprint: string };
  process: ApprovalProcess;
  /** Whether allow-process / allow-executable are possible (the process and its executable are known). */
  processKnown: boolean;
  /** ISO 8601. */
  requestedAt: string;
  /** When the prompt counts as denied, ISO 8601. */
  expiresAt: string;
  /** Client connections waiting for the answer. */
  waiting: number;
  /** The prompt exists because the broker is locked (the service itself may not ask). */
  locked: boolean;
}

export type ApprovalAnswer =
  /** The connections waiting now, nothing more. */
  | { type: 'allow-once' }
  /** This process (pid and start time) until it exits. */
  | { type: 'allow-process' }
  /** Any process of this executable for forMs milliseconds. */
  | { type: 'allow-executable'; forMs: number }
  | { type: 'deny' };

export interface LockState {
  locked: boolean;
  /** ISO 8601, when locked. */
  since?: string;
  /** Why: ui, cli, tray, screen-lock, sleep, idle. */
  reason?: string;
}

export type BrokerEvent =
  | { type: 'target.started'; name: string; address: string }
  | { type: 'target.stopped'; name: string }
  | { type: 'target.failed'; name: string; reason: string }
  | { type: 'connection.opened'; name: string; connectionId: string }
  | { type: 'connection.closed'; name: string; connectionId: string }
  | { type: 'connection.failed'; name: string; connectionId: string; code: BrokerErrorCode; reason: string }
  | { type: 'credential.fetched'; name: string; provider: string; id: string; expiresAt?: string }
  | { type: 'credential.rotated'; name: string; provider: string; id: string }
  | { type: 'credential.expiring'; name: string; provider: string; id: string; expiresAt: string }
  | { type: 'session.changed'; session: IdentitySessionInfo }
  | { type: 'session.expiring'; identity: string; expiresAt: string }
  | { type: 'session.expired'; identity: string }
  | { type: 'target.health'; name: string; health: TargetHealth }
  /** A config reload was refused (the broker keeps the previous config) or succeeded again. */
  | { type: 'config.rejected'; reason: string; fields: ApiFieldError[]; at: string }
  | { type: 'config.applied'; at: string }
  | { type: 'audit'; record: AuditRecord }
  /** A program waits for the user's approval. */
  | { type: 'approval.requested'; approval: ApprovalPrompt }
  /** A prompt is over: answered, timed out, or its program went away. */
  | { type: 'approval.resolved'; id: string; service: string; outcome: 'allowed' | 'denied' | 'withdrawn'; by: ApprovalAnsweredBy }
  | { type: 'lock.changed'; lock: LockState }
  /** Electron only (main → window): the broker process's state, see BrokerRunState. */
  | { type: 'broker.state'; status: BrokerRunState }
  /** Electron only (main → window): show this target or identity session (a notification was clicked). */
  | { type: 'ui.focus'; target?: string; identity?: string; approval?: string };

export interface BrokerApi {
  listTargets(): Promise<TargetInfo[]>;
  startTarget(name: string): Promise<TargetInfo>;
  stopTarget(name: string): Promise<TargetInfo>;
  saveTarget(input: TargetInput): Promise<TargetInfo>;
  /** The target as the editor loads it (references, never values). */
  getTarget(name: string): Promise<TargetDetail>;
  deleteTarget(name: string, options?: DeleteOptions): Promise<DeleteResult>;
  /** Logs in to the target through the connector (same code as a client connection). */
  testTarget(name: string): Promise<TestResult>;
  /** One form template per connector the broker has. */
  connectorTemplates(): Promise<ConnectorTemplate[]>;
  brokerInfo(): Promise<BrokerInfo>;
  listSessions(): Promise<IdentitySessionInfo[]>;
  login(identity: string): Promise<LoginStart>;
  logout(identity: string): Promise<void>;
  recentAudit(query?: AuditQuery): Promise<AuditRecord[]>;
  /** Programs waiting for the user's approval, oldest first. */
  listApprovals(): Promise<ApprovalPrompt[]>;
  /** Answers a prompt; `by` is recorded in the audit (default ui). */
  answerApproval(id: string, answer: ApprovalAnswer, by?: 'ui' | 'notification' | 'cli'): Promise<void>;
  /** Revokes every approval; until unlock() every new connection asks. closeSessions also closes open client connections. */
  lock(options?: { closeSessions?: boolean; by?: string }): Promise<LockState>;
  unlock(options?: { by?: string }): Promise<LockState>;
  lockState(): Promise<LockState>;
  /** Live events; returns the unsubscribe function. */
  subscribe(listener: (event: BrokerEvent) => void): () => void;
}

/** The method names, for the preload bridge and the control API's allow-list. */
export const BROKER_API_METHODS = [
  'listTargets',
  'startTarget',
  'stopTarget',
  'saveTarget',
  'getTarget',
  'deleteTarget',
  'testTarget',
  'connectorTemplates',
  'brokerInfo',
  'listSessions',
  'login',
  'logout',
  'recentAudit',
  'listApprovals',
  'answerApproval',
  'lock',
  'unlock',
  'lockState',
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
