// The BrokerApi implementation over a running broker: what the control API (browser,
// CLI) and the Electron main process serve. Targets come from broker.status() plus the
// credential expiries seen in the audit feed; events are the audit feed translated into
// BrokerEvents (and the identity layer's own events when there is one). Nothing here
// ever holds a secret value: the audit feed carries ids and provider names only.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ApiError } from './api-error.js';
import type { ApiFieldError, AuditQuery, BrokerApi, BrokerEvent, BrokerInfo, CredentialRef, IdentitySessions, TargetDetail, TargetHealth, TargetInfo, TargetInput } from './api.js';
import { ConfigError } from './config/types.js';
import { KeychainItemExists, KeychainUnavailable, removeTarget, TargetInputError } from './config/write.js';
import { parseKeychainId } from './credentials/providers/keychain.js';
import { connectorTemplate, isSecretKey } from './connectors/templates.js';
import { defaultDatabase } from './connectors/database-settings.js';
import { createHealthTracker, targetHealth } from './health.js';
import { VERSION } from './version.js';
import type { AuditRecord } from './audit/types.js';
import type { Broker, ServiceStatus } from './broker.js';
import { formatListenAddress } from './config/listen-address.js';
import type { ParseOptions } from './config/parse.js';
import type { BrokerConfig, ConnectorSpec } from './config/types.js';
import { nativeKeychainWriter, writeTarget, type KeychainWriter } from './config/write.js';
import { exchangedIdentity, identityOf, isTokenIdentity } from './identity/config.js';
import { loadConfig, userStateDir } from './config/load.js';
import { sshConnector, sshHostKeyDir } from './connectors/ssh/connector.js';
import { ensureSshHostKey } from './ssh/host-key.js';
import { createEmitter } from './net/emitter.js';
import type { Approvals } from './access/approvals.js';

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
  /** Approval prompts and the lock (broker/access/approvals.ts). */
  approvals?: Approvals;
}

export interface BrokerApiService extends BrokerApi {
  /** Stops listening to the audit feed and the identity layer. */
  close(): void;
}

const FAILED_TYPES = new Set(['connection.failed', 'credential.failed', 'identity.failed', 'service.failed', 'config.rejected', 'ssh-agent.refused', 'target.test.failed']);

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

  const health = createHealthTracker();
  let configRejected: BrokerInfo['configRejected'];
  const track = (r: AuditRecord): string[] => {
    if (r.type === 'config.rejected') configRejected = { at: r.time, reason: r.reason, fields: [] };
    if (r.type === 'config.loaded') configRejected = undefined;
    const changed = health.observe(r);
    if (r.type !== 'credential.fetched') return changed;
    let m = expiries.get(r.service);
    if (!m) expiries.set(r.service, (m = new Map()));
    m.set(`${r.provider}\u0000${r.id}`, r.expiresAt);
    return changed;
  };
  for (const r of audit.recent()) track(r);

  const emit = events.emit;

  // target.health goes out when a target's health actually changes.
  const lastHealth = new Map<string, string>();
  const emitHealth = (names: Iterable<string>): void => {
    for (const name of names) {
      const s = broker.status().find((x) => x.name === name);
      if (!s) continue;
      const h = healthOf(s);
      const key = JSON.stringify(h);
      if (lastHealth.get(name) === key) continue;
      lastHealth.set(name, key);
      emit({ type: 'target.health', name, health: h });
    }
  };
  const offAudit = audit.subscribe((record) => {
    const changed = track(record);
    const event = toBrokerEvent(record);
    if (event) emit(event);
    emit({ type: 'audit', record });
    emitHealth(changed);
  });
  const offApprovals = options.approvals?.subscribe(emit);
  const offIdentities = options.identities?.subscribe((event) => {
    emit(event);
    if (event.type === 'session.changed') emitHealth(broker.status().map((s) => s.name));
  });

  const healthOf = (s: ServiceStatus): TargetHealth => {
    const identity = sessionOf(broker.config(), s.name);
    const session = identity ? options.identities?.list().find((x) => x.name === identity) : undefined;
    return targetHealth({
      listener: s.status.state === 'failed' ? { state: 'failed', reason: s.status.reason } : { state: s.status.state },
      history: health.history(s.name),
      ...(session ? { session } : {}),
    });
  };
  const withDefaults = (name: string): Partial<TargetInfo> => {
    const svc = broker.config().services.find((x) => x.name === name);
    if (!svc) return {};
    if (svc.connector === 'pg' || svc.connector === 'mysql') {
      const db = defaultDatabase(svc) ?? (svc.connector === 'pg' ? 'postgres' : undefined);
      return db ? { database: db } : {};
    }
    if (svc.connector === 'ssh' && typeof svc.config.hostAlias === 'string') return { hostAlias: svc.config.hostAlias };
    return {};
  };
  const keychain = options.keychain ?? nativeKeychainWriter;
  const specs = options.parse.connectors;

  // ssh targets show the broker's host key fingerprint, for pinning in known_hosts.
  // Reading (or creating) the key is async, so listTargets() loads it first.
  const hostKeys = new Map<string, { fingerprint: string; publicKey: string }>();
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
      if (dir === undefined || hostKeys.has(dir)) continue;
      try {
        const key = await ensureSshHostKey(dir);
        hostKeys.set(dir, { fingerprint: key.fingerprint, publicKey: key.publicKey });
      } catch {
        // The ssh service itself reports an unusable host key when it starts.
      }
    }
  };
  const withFingerprint = (name: string) => {
    const dir = hostKeyDirOf(name);
    const key = dir === undefined ? undefined : hostKeys.get(dir);
    return key ? { hostKeyFingerprint: key.fingerprint, hostPublicKey: key.publicKey } : {};
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
      health: healthOf(s),
      ...withDefaults(s.name),
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

  const approvals = (): Approvals => {
    if (!options.approvals) throw new ApiError(500, 'this broker has no approvals (an embedded API without them)');
    return options.approvals;
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
      await apiErrors(() => writeTarget(options.configPath, input, { parse: options.parse, keychain }), input.name);
      await options.reload();
      return target(input.name);
    },
    async getTarget(name) {
      // The file is what an edit changes: read it (it may have been edited by hand since the last reload).
      const onDisk = await loadConfig(options.configPath, options.parse).catch(() => broker.config());
      if (!onDisk.services.some((s) => s.name === name)) target(name);
      return detailOf(onDisk.services.some((s) => s.name === name) ? onDisk : broker.config(), name, specs);
    },
    async deleteTarget(name, opts = {}) {
      target(name);
      const items = await apiErrors(() => removeTarget(options.configPath, name, { parse: options.parse }), name);
      await options.reload();
      const result = { name, removedKeychainItems: [] as string[], keptKeychainItems: [] as { id: string; usedBy: string[] }[] };
      for (const item of items) {
        if (!opts.removeKeychainItems) continue;
        if (item.usedBy.length) {
          result.keptKeychainItems.push(item);
          continue;
        }
        const id = parseKeychainId(item.id)!;
        if (await apiErrors(() => keychain.delete(id.service, id.account), name)) result.removedKeychainItems.push(item.id);
      }
      return result;
    },
    async testTarget(name) {
      target(name);
      const r = await broker.testService(name);
      const at = new Date().toISOString();
      return r.type === 'ok' ? { type: 'ok', latencyMs: r.latencyMs, target: r.target, at } : { type: 'failed', code: r.code, reason: r.reason, at };
    },
    async connectorTemplates() {
      return specs.map(connectorTemplate);
    },
    async brokerInfo() {
      return { instanceId, startedAt, version: VERSION, configPath: options.configPath, ...(configRejected ? { configRejected } : {}) };
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
    async listApprovals() {
      return options.approvals?.list() ?? [];
    },
    async answerApproval(id, answer, by = 'ui') {
      if (!options.approvals?.answer(id, answer, by)) throw new ApiError(404, `no approval prompt '${id}': it was answered, timed out, or its program went away`);
    },
    async lock(opts = {}) {
      return approvals().lock(opts.by ?? 'ui', { closeSessions: opts.closeSessions === true });
    },
    async unlock(opts = {}) {
      return approvals().unlock(opts.by ?? 'ui');
    },
    async lockState() {
      return options.approvals?.state() ?? { locked: false };
    },
    subscribe: events.subscribe,
    close() {
      offApprovals?.();
      offAudit();
      offIdentities?.();
      events.clear();
    },
  };
}

const withIdentity = (identity: string | undefined) => (identity ? { identity } : {});

/** The editor's view of a target: references as written, secret literals hidden. */
export function detailOf(config: BrokerConfig, name: string, specs: ConnectorSpec[]): TargetDetail {
  const svc = config.services.find((s) => s.name === name)!;
  const spec = specs.find((c) => c.name === svc.connector);
  const credentials: Record<string, CredentialRef> = {};
  const keychainItems: TargetDetail['keychainItems'] = [];
  for (const [key, c] of Object.entries(svc.credentials)) {
    if (c.provider === 'literal') credentials[key] = isSecretKey(spec, key) ? { keep: true } : { literal: c.id };
    else credentials[key] = { from: c.provider, get: c.id };
    if (c.provider === 'keychain') {
      const sharedWith = config.services.filter((o) => o.name !== name && Object.values(o.credentials).some((x) => x.provider === 'keychain' && x.id === c.id)).map((o) => o.name);
      keychainItems.push({ key, id: c.id, sharedWith });
    }
  }
  return { name, connector: svc.connector, listenOn: formatListenAddress(svc.listenOn), credentials, config: svc.config, keychainItems };
}

/** Runs a config edit; turns its errors into ApiErrors that name form fields, not file lines. */
async function apiErrors<T>(work: () => Promise<T>, target: string): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof KeychainItemExists) {
      throw new ApiError(409, err.message, { code: 'keychain_item_exists', fields: [{ path: err.field, message: err.message }], keychainConflict: { field: err.field, id: err.id, usedBy: err.usedBy } });
    }
    if (err instanceof KeychainUnavailable) throw new ApiError(503, err.message, { code: 'keychain_unavailable' });
    if (err instanceof TargetInputError) throw new ApiError(400, err.message, { code: 'invalid_input', fields: err.field ? [{ path: err.field, message: err.message }] : [] });
    if (err instanceof ConfigError) {
      const fields = fieldErrors(err, target);
      if (fields.length === 0) throw new ApiError(409, `the config file ${err.source} has errors; fix them first`, { code: 'config_invalid' });
      throw new ApiError(400, fields.map((f) => `${f.path}: ${f.message}`).join('; '), { code: 'invalid_input', fields });
    }
    throw err;
  }
}

/** The issues inside the edited service, with paths relative to it (`credentials.password`). */
export function fieldErrors(err: ConfigError, target: string): ApiFieldError[] {
  const prefix = `services.${target}`;
  return err.issues
    .filter((i) => i.service === target || i.path === prefix || i.path.startsWith(`${prefix}.`))
    .map((i) => ({ path: i.path === prefix ? 'name' : i.path.startsWith(`${prefix}.`) ? i.path.slice(prefix.length + 1) : i.path, message: i.message }));
}

/**
 * The identity session a service's credentials depend on: a credential naming an identity
 * entry (aws-sts, vault, …) whose entry is, or exchanges the token of, an oidc or
 * workload identity.
 */
export function sessionOf(config: BrokerConfig, service: string): string | undefined {
  const svc = config.services.find((s) => s.name === service);
  const identities = config.identities ?? [];
  for (const spec of Object.values(svc?.credentials ?? {})) {
    const entry = identities.find((i) => i.name === identityOf(spec.provider, spec.id));
    if (!entry) continue;
    if (isTokenIdentity(entry)) return entry.name;
    const exchanged = exchangedIdentity(entry);
    if (exchanged) return exchanged;
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
    case 'config.rejected':
      return { type: 'config.rejected', reason: r.reason, fields: [], at: r.time };
    case 'config.loaded':
      return { type: 'config.applied', at: r.time };
    default:
      return undefined;
  }
}
