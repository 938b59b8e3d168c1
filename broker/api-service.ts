// The BrokerApi implementation over a running broker: what the control API (browser,
// CLI) and the Electron main process serve. Targets come from broker.status() plus the
// credential expiries seen in the audit feed; events are the audit feed translated into
// BrokerEvents (and the identity layer's own events when there is one). Nothing here
// ever holds a secret value: the audit feed carries ids and provider names only.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ApiErrorBody, ApiErrorCode, ApiFieldError, AuditQuery, BrokerApi, BrokerEvent, IdentitySessions, TargetInfo, TargetInput } from './api.js';
import type { AuditRecord } from './audit/types.js';
import type { Broker, ServiceStatus } from './broker.js';
import { formatListenAddress } from './config/listen-address.js';
import type { ParseOptions } from './config/parse.js';
import type { BrokerConfig } from './config/types.js';
import { writeTarget, type KeychainWriter } from './config/write.js';
import { identityOf } from './identity/config.js';
import { userStateDir } from './config/load.js';
import { sshConnector, sshHostKeyDir } from './connectors/ssh/connector.js';
import { sshHostKeyFingerprint } from './ssh/host-key.js';
import { createEmitter } from './net/emitter.js';

/** The slice of the audit log the API reads. */
export interface AuditFeedSource {
  subscribe(fn: (record: AuditRecord) => void): () => void;
  /** Oldest first. */
  recent(limit?: number): AuditRecord[];
}

export interface BrokerApiOptions {
  broker: Broker;
  audit: AuditFeedSource;
  /** The config file saveTarget() edits. */
  configPath: string;
  parse: Omit<ParseOptions, 'source'>;
  /** Re-reads the config file and applies it to the broker. */
  reload: () => Promise<void>;
  identities?: IdentitySessions;
  /** Where the user's stopped targets are remembered across restarts (JSON, 0600). */
  stateFile?: string;
  keychain?: KeychainWriter;
  /** Where ssh services keep the broker's host key unless they set `hostKeyDir`. */
  stateDir?: string;
}

export interface BrokerApiService extends BrokerApi {
  /** Stops listening to the audit feed and the identity layer. */
  close(): void;
}

/** An error a BrokerApi call answers with: HTTP status plus the ApiErrorBody fields. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly code: ApiErrorCode;
  readonly fields: ApiFieldError[];
  readonly keychainConflict?: ApiErrorBody['keychainConflict'];
  constructor(
    readonly status: 400 | 404 | 409 | 500 | 503,
    message: string,
    body: Partial<Omit<ApiErrorBody, 'error'>> = {},
  ) {
    super(message);
    this.code = body.code ?? ({ 400: 'invalid_input', 404: 'not_found', 409: 'conflict', 500: 'internal', 503: 'keychain_unavailable' } as const)[status];
    this.fields = body.fields ?? [];
    if (body.keychainConflict) this.keychainConflict = body.keychainConflict;
  }
  body(): ApiErrorBody {
    return { error: this.message, code: this.code, ...(this.fields.length ? { fields: this.fields } : {}), ...(this.keychainConflict ? { keychainConflict: this.keychainConflict } : {}) };
  }
}

const FAILED_TYPES = new Set(['connection.failed', 'credential.failed', 'identity.failed', 'service.failed', 'config.rejected', 'ssh-agent.refused']);

export function isFailure(record: AuditRecord): boolean {
  // An HTTP request is a failure when the broker answered with an error or the upstream refused the credential.
  return FAILED_TYPES.has(record.type) || (record.type === 'http.request' && record.outcome !== 'ok');
}

/** Read the stopped-target list written by a previous run; a missing or broken file means none. */
export function readStoppedTargets(stateFile: string | undefined): string[] {
  if (!stateFile) return [];
  try {
    const data = JSON.parse(readFileSync(stateFile, 'utf8')) as { stopped?: unknown };
    return Array.isArray(data.stopped) ? data.stopped.filter((n): n is string => typeof n === 'string') : [];
  } catch {
    return [];
  }
}

export function createBrokerApi(options: BrokerApiOptions): BrokerApiService {
  const { broker, audit } = options;
  // service -> provider\0id -> expiry, from credential.fetched records.
  const expiries = new Map<string, Map<string, string | undefined>>();
  // One broken subscriber (a closed stream) must not starve the others.
  const events = createEmitter<BrokerEvent>();
  const instanceId = randomUUID();
  const startedAt = new Date().toISOString();

  const track = (r: AuditRecord): void => {
    if (r.type !== 'credential.fetched') return;
    let m = expiries.get(r.service);
    if (!m) expiries.set(r.service, (m = new Map()));
    m.set(`${r.provider}\u0000${r.id}`, r.expiresAt);
  };
  for (const r of audit.recent()) track(r);

  const emit = events.emit;

  const offAudit = audit.subscribe((record) => {
    track(record);
    const event = toBrokerEvent(record);
    if (event) emit(event);
    emit({ type: 'audit', record });
  });
  const offIdentities = options.identities?.subscribe(emit);

  // ssh targets show the broker's host key fingerprint, for pinning in known_hosts.
  // Reading (or creating) the key is async, so listTargets() loads it first.
  const fingerprints = new Map<string, string>();
  const hostKeyDirOf = (name: string): string | undefined => {
    const svc = broker.config().services.find((x) => x.name === name && x.connector === 'ssh');
    if (!svc) return undefined;
    try {
      return sshHostKeyDir(sshConnector.spec.parseSettings(svc.config), options.stateDir ?? userStateDir());
    } catch {
      return undefined; // settings the service itself refuses to start with
    }
  };
  const loadFingerprints = async (): Promise<void> => {
    for (const svc of broker.config().services) {
      const dir = hostKeyDirOf(svc.name);
      if (dir === undefined || fingerprints.has(dir)) continue;
      try {
        fingerprints.set(dir, await sshHostKeyFingerprint(dir));
      } catch {
        // The ssh service itself reports an unusable host key when it starts.
      }
    }
  };
  const withFingerprint = (name: string) => {
    const dir = hostKeyDirOf(name);
    const fingerprint = dir === undefined ? undefined : fingerprints.get(dir);
    return fingerprint ? { hostKeyFingerprint: fingerprint } : {};
  };

  const withUpstream = (name: string) => {
    const upstream = broker.config().services.find((x) => x.name === name)?.config.upstream;
    return typeof upstream === 'string' ? { upstream } : {};
  };

  const info = (s: ServiceStatus): TargetInfo => {
    const times = [...(expiries.get(s.name)?.values() ?? [])].filter((t): t is string => !!t).sort();
    return {
      name: s.name,
      connector: s.connector,
      listenOn: formatListenAddress(s.listenOn),
      status:
        s.status.state === 'failed' ? { state: 'error', reason: s.status.reason } : s.status.state === 'listening' ? { state: 'listening', address: s.status.address } : { state: 'stopped' },
      connections: s.connections,
      health: s.status.state === 'listening' ? { type: 'listening' } : s.status.state === 'failed' ? { type: 'listener-failed', at: new Date().toISOString(), code: 'listener_failed', reason: s.status.reason } : { type: 'stopped' },
      ...(times[0] ? { credentialExpiresAt: times[0] } : {}),
      ...withIdentity(sessionOf(broker.config(), s.name)),
      ...withFingerprint(s.name),
      ...withUpstream(s.name),
    };
  };

  const target = (name: string): TargetInfo => {
    const s = broker.status().find((x) => x.name === name);
    if (!s) throw new ApiError(404, `no target named '${name}'`);
    return info(s);
  };

  const persistStopped = (): void => {
    if (!options.stateFile) return;
    mkdirSync(dirname(options.stateFile), { recursive: true, mode: 0o700 });
    const tmp = `${options.stateFile}.tmp`;
    writeFileSync(tmp, JSON.stringify({ stopped: broker.stopped() }) + '\n', { mode: 0o600 });
    renameSync(tmp, options.stateFile);
  };

  const identity = (name: string): IdentitySessions => {
    if (!options.identities || !options.identities.list().some((s) => s.name === name)) {
      throw new ApiError(404, `no identity named '${name}'`);
    }
    return options.identities;
  };

  return {
    async listTargets() {
      await loadFingerprints();
      return broker.status().map(info);
    },
    async startTarget(name) {
      target(name);
      await broker.startService(name);
      persistStopped();
      return target(name);
    },
    async stopTarget(name) {
      target(name);
      await broker.stopService(name);
      persistStopped();
      return target(name);
    },
    async saveTarget(input: TargetInput) {
      await writeTarget(options.configPath, input, { parse: options.parse, keychain: options.keychain });
      await options.reload();
      return target(input.name);
    },
    async getTarget(name) {
      target(name);
      throw new ApiError(500, 'getTarget is not implemented yet', { code: 'internal' });
    },
    async deleteTarget(name) {
      target(name);
      throw new ApiError(500, 'deleteTarget is not implemented yet', { code: 'internal' });
    },
    async testTarget(name) {
      target(name);
      throw new ApiError(500, 'testTarget is not implemented yet', { code: 'internal' });
    },
    async connectorTemplates() {
      return [];
    },
    async brokerInfo() {
      return { instanceId, startedAt, version: '0.0.0', configPath: options.configPath };
    },
    async listSessions() {
      return options.identities?.list() ?? [];
    },
    async login(name) {
      return identity(name).login(name);
    },
    async logout(name) {
      return identity(name).logout(name);
    },
    async recentAudit(query: AuditQuery = {}) {
      const limit = query.limit ?? 200;
      const out: AuditRecord[] = [];
      const all = audit.recent();
      for (let i = all.length - 1; i >= 0 && out.length < limit; i--) {
        const r = all[i]!;
        if (query.service !== undefined && !('service' in r && r.service === query.service)) continue;
        if (query.outcome !== undefined && isFailure(r) !== (query.outcome === 'failed')) continue;
        out.push(r);
      }
      return out;
    },
    subscribe: events.subscribe,
    close() {
      offAudit();
      offIdentities?.();
      events.clear();
    },
  };
}

const withIdentity = (identity: string | undefined) => (identity ? { identity } : {});

/**
 * The OIDC login a service's credentials depend on: a credential naming an identity
 * entry (aws-sts, vault, …) whose entry is, or exchanges the token of, an oidc identity.
 */
export function sessionOf(config: BrokerConfig, service: string): string | undefined {
  const svc = config.services.find((s) => s.name === service);
  const identities = config.identities ?? [];
  for (const spec of Object.values(svc?.credentials ?? {})) {
    const entry = identities.find((i) => i.name === identityOf(spec.provider, spec.id));
    if (!entry) continue;
    if (entry.type === 'oidc') return entry.name;
    if (entry.type === 'aws' && entry.identity) return entry.identity;
    if (entry.type === 'vault' && entry.auth.method === 'jwt') return entry.auth.identity;
  }
  return undefined;
}

/** The BrokerEvent an audit record stands for, if any (every record is also sent as `audit`). */
export function toBrokerEvent(r: AuditRecord): BrokerEvent | undefined {
  switch (r.type) {
    case 'service.started':
      return { type: 'target.started', name: r.service, address: r.address };
    case 'service.stopped':
      return { type: 'target.stopped', name: r.service };
    case 'service.failed':
      return { type: 'target.failed', name: r.service, reason: r.reason };
    case 'connection.opened':
      return { type: 'connection.opened', name: r.service, connectionId: r.connectionId };
    case 'connection.closed':
      return { type: 'connection.closed', name: r.service, connectionId: r.connectionId };
    case 'connection.failed':
      return { type: 'connection.failed', name: r.service, connectionId: r.connectionId, code: r.code, reason: r.reason };
    case 'http.request':
      return r.outcome === 'ok' ? undefined : { type: 'connection.failed', name: r.service, connectionId: r.connectionId, code: r.outcome, reason: `${r.method} ${r.host}${r.path}: HTTP ${r.status}` };
    case 'credential.fetched':
      return { type: 'credential.fetched', name: r.service, provider: r.provider, id: r.id, ...(r.expiresAt ? { expiresAt: r.expiresAt } : {}) };
    case 'credential.rotated':
      return { type: 'credential.rotated', name: r.service, provider: r.provider, id: r.id };
    case 'credential.expiring':
      return { type: 'credential.expiring', name: r.service, provider: r.provider, id: r.id, expiresAt: r.expiresAt };
    default:
      return undefined;
  }
}
