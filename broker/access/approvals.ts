// Consent: with `approval: ask` (or while the broker is locked) a program's first
// connection to a service waits until the user answers a prompt naming the program, the
// target and the time. Answers: allow once, allow this process until it exits, allow this
// executable for a while, deny; no answer within settings.approvalTimeoutMs is a deny.
// Nothing is sent to the client while it waits (clients start no timer of their own on a
// silent server: see the README), then the login goes on or the client gets not_approved
// in its own protocol. Everything is audited: the request, the answer and who gave it.
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { ApprovalAnswer, ApprovalAnsweredBy, ApprovalPrompt, ApprovalProcess, BrokerEvent, LockState } from '../api.js';
import type { AuditSink, ClientInfo } from '../audit/types.js';
import { formatListenAddress } from '../config/listen-address.js';
import type { BrokerConfig, ServiceConfig } from '../config/types.js';
import { BrokerError, CodedError } from '../errors.js';
import type { Logger } from '../log.js';
import { createEmitter } from '../net/emitter.js';
import { createGrants, type ClientProcess, type Grant, type GrantScope } from './grants.js';
import { anyServiceAsks, autoLocks, createIdleTimer, createLockSwitch, settingsOf, type AutoLockEvent } from './lock.js';
import { describeProcess, isSameProcess, type ProcessInfo } from './process-info.js';
import { createPromptQueue, promptKey, type OpenPrompt } from './prompts.js';

export type ApprovalEvent = Extract<BrokerEvent, { type: 'approval.requested' | 'approval.resolved' | 'lock.changed' }>;

export interface ApprovalRequest {
  socket: Socket;
  client: ClientInfo;
  service: ServiceConfig;
  connectionId: string;
  /** Aborted when the client leaves or the service stops: the connection stops waiting. */
  signal: AbortSignal;
  /** ssh-agent: the key a signature is asked for (approvals are per key and process). */
  key?: { name: string; fingerprint: string };
}

export interface ApprovalsOptions {
  audit: AuditSink;
  logger: Logger;
  /** The config in force (settings and services, re-read on every use: reloads apply at once). */
  config: () => BrokerConfig;
  /** The pid of a client the listener did not look up (serve without --peer-lookup). */
  lookupPeer?: (socket: Socket) => Promise<{ pid?: number; uid?: number }>;
  /** Tests: the process description (default: /proc). */
  describe?: (pid: number) => Promise<ProcessInfo>;
  /** lock({ closeSessions }): closes every open client connection; returns how many. */
  closeSessions?: () => number;
}

export interface Approvals {
  /** Resolves when the client may go on; rejects with a not_approved BrokerError. Immediate for a service that does not ask while unlocked. */
  check(request: ApprovalRequest): Promise<void>;
  /** Whether a connection to this service must be approved now (it asks, or the broker is locked). */
  required(service: ServiceConfig): boolean;
  list(): ApprovalPrompt[];
  /** Throws CodedError invalid_input for an answer the prompt cannot take; returns false when there is no such prompt. */
  answer(id: string, answer: ApprovalAnswer, by: Exclude<ApprovalAnsweredBy, 'timeout' | 'client-gone'>): boolean;
  lock(by: string, options?: { closeSessions?: boolean }): LockState;
  unlock(by: string): LockState;
  /** The desktop reports the screen locked or the machine going to sleep: locks when the settings say so. */
  autoLock(event: AutoLockEvent): void;
  state(): LockState;
  subscribe(listener: (event: ApprovalEvent) => void): () => void;
  /** After a config reload: the idle timer follows the new settings; a warning when nothing can answer. */
  configChanged(): void;
  close(): void;
}

/** allow-executable may not be given for longer than this. */
export const MAX_GRANT_MS = 7 * 24 * 3_600_000;

export function createApprovals(options: ApprovalsOptions): Approvals {
  const { audit, logger } = options;
  const grants = createGrants();
  const prompts = createPromptQueue();
  const lockSwitch = createLockSwitch();
  const events = createEmitter<ApprovalEvent>();
  const describe = options.describe ?? describeProcess;
  const settings = () => settingsOf(options.config());
  const idle = createIdleTimer(
    () => settings().lockAfterIdleMs,
    () => void setLocked(true, 'idle'),
  );

  const required = (service: ServiceConfig): boolean => lockSwitch.state().locked || (service.approval ?? settings().approval) === 'ask';

  function setLocked(locked: boolean, by: string, closeSessions = false): LockState {
    if (locked) {
      // Revoked even when already locked: grants given while locked end too.
      const revoked = grants.clear();
      const changed = lockSwitch.set(true, by);
      const closed = closeSessions ? (options.closeSessions?.() ?? 0) : 0;
      if (changed || revoked > 0 || closed > 0) {
        audit.record({ type: 'access.locked', by, grantsRevoked: revoked, sessionsClosed: closed });
        logger.info('locked: every new connection asks for approval', { by, grantsRevoked: revoked, sessionsClosed: closed });
      }
      if (changed) events.emit({ type: 'lock.changed', lock: lockSwitch.state() });
    } else if (lockSwitch.set(false)) {
      audit.record({ type: 'access.unlocked', by });
      logger.info('unlocked', { by });
      events.emit({ type: 'lock.changed', lock: lockSwitch.state() });
    }
    return lockSwitch.state();
  }

  async function check(req: ApprovalRequest): Promise<void> {
    idle.touch();
    if (!required(req.service)) return;
    const pid = req.client.pid ?? (options.lookupPeer ? (await options.lookupPeer(req.socket)).pid : undefined);
    const info: ProcessInfo | undefined = pid === undefined ? undefined : await describe(pid);
    const client: ClientProcess | undefined = info?.startTime ? { pid: info.pid, startTime: info.startTime, ...(info.exe ? { exe: info.exe } : {}) } : undefined;
    const scope: GrantScope = { service: req.service.name, ...(req.key ? { key: req.key.fingerprint } : {}) };
    const keyText = req.key ? `${req.key.fingerprint} ${req.key.name}` : undefined;
    const grant = client ? grants.find(scope, client) : undefined;
    if (grant) {
      audit.record({ type: 'approval.reused', service: scope.service, connectionId: req.connectionId, grant: grant.type, process: { pid: client!.pid, ...(client!.exe ? { exe: client!.exe } : {}) }, ...(keyText ? { key: keyText } : {}) });
      return;
    }
    req.signal.throwIfAborted();
    const key = promptKey(scope, client, req.connectionId);
    const open = prompts.byKey(key) ?? openPrompt(req, key, scope, client, info, keyText);
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        connectionId: req.connectionId,
        allow: () => {
          req.signal.removeEventListener('abort', onAbort);
          resolve();
        },
        deny: (err: Error) => {
          req.signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      const onAbort = (): void => {
        open.waiters.delete(waiter);
        open.prompt.waiting = open.waiters.size;
        reject(req.signal.reason ?? new BrokerError('protocol_violation', 'the client left while waiting for approval'));
        // The program gave up (or the service stopped): nobody is left to answer for.
        if (open.waiters.size === 0) finish(open, 'withdrawn', 'client-gone');
      };
      open.waiters.add(waiter);
      open.prompt.waiting = open.waiters.size;
      req.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  function openPrompt(req: ApprovalRequest, key: string, scope: GrantScope, client: ClientProcess | undefined, info: ProcessInfo | undefined, keyText: string | undefined): OpenPrompt {
    const now = Date.now();
    const timeoutMs = settings().approvalTimeoutMs;
    const process: ApprovalProcess = info
      ? { pid: info.pid, ...(info.exe ? { exe: info.exe } : {}), ...(info.name ? { name: info.name } : {}), ...(info.cmdline ? { cmdline: info.cmdline } : {}), ...(info.parentApp ? { parentApp: info.parentApp } : {}) }
      : { ...(req.client.address ? { address: `${req.client.address}${req.client.port ? `:${req.client.port}` : ''}` } : {}) };
    const prompt: ApprovalPrompt = {
      id: randomUUID(),
      service: req.service.name,
      connector: req.service.connector,
      listenOn: listenerAddress(req),
      ...(req.key ? { key: req.key } : {}),
      process,
      processKnown: client?.exe !== undefined,
      requestedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + timeoutMs).toISOString(),
      waiting: 0,
      locked: lockSwitch.state().locked,
    };
    const open: OpenPrompt = { prompt, key, scope, ...(client ? { client } : {}), waiters: new Set(), timer: setTimeout(() => finish(open, 'timeout', 'timeout'), timeoutMs) };
    open.timer.unref();
    prompts.add(open);
    audit.record({ type: 'approval.requested', service: prompt.service, approvalId: prompt.id, connectionId: req.connectionId, process, ...(keyText ? { key: keyText } : {}), locked: prompt.locked });
    logger.info('waiting for the user to approve a program', { service: prompt.service, approval: prompt.id, pid: process.pid, exe: process.exe, key: keyText });
    events.emit({ type: 'approval.requested', approval: { ...prompt } });
    return open;
  }

  type Outcome = ApprovalAnswer['type'] | 'timeout' | 'withdrawn';

  /** Ends a prompt: its waiting connections go on or get not_approved. */
  function finish(open: OpenPrompt, outcome: Outcome, by: ApprovalAnsweredBy, forMs?: number): void {
    if (prompts.get(open.prompt.id) !== open) return;
    prompts.remove(open);
    const allowed = outcome.startsWith('allow-');
    const p = open.prompt;
    audit.record({
      type: 'approval.answered',
      service: p.service,
      approvalId: p.id,
      answer: outcome,
      ...(forMs !== undefined ? { forMs } : {}),
      by,
      process: p.process,
      ...(p.key ? { key: `${p.key.fingerprint} ${p.key.name}` } : {}),
      connections: open.waiters.size,
    });
    logger.info(allowed ? 'program approved' : 'program not approved', { service: p.service, approval: p.id, answer: outcome, by, pid: p.process.pid });
    const err = new BrokerError('not_approved', refusal(p, outcome, settings().approvalTimeoutMs));
    for (const w of open.waiters) (allowed ? w.allow() : w.deny(err));
    open.waiters.clear();
    events.emit({ type: 'approval.resolved', id: p.id, service: p.service, outcome: allowed ? 'allowed' : outcome === 'withdrawn' ? 'withdrawn' : 'denied', by });
  }

  function answer(id: string, a: ApprovalAnswer, by: Exclude<ApprovalAnsweredBy, 'timeout' | 'client-gone'>): boolean {
    const open = prompts.get(id);
    if (!open) return false;
    const now = Date.now();
    let grant: Grant | undefined;
    if (a.type === 'allow-process' || a.type === 'allow-executable') {
      const c = open.client;
      if (!c || !c.exe) throw new CodedError('invalid_input', 'the program is not known (no process found for the connection): only allow-once or deny');
      if (a.type === 'allow-process') grant = { type: 'process', scope: open.scope, pid: c.pid, startTime: c.startTime, exe: c.exe, grantedAt: now };
      else {
        if (!Number.isFinite(a.forMs) || a.forMs <= 0 || a.forMs > MAX_GRANT_MS) throw new CodedError('invalid_input', `forMs must be more than 0 and at most ${MAX_GRANT_MS} (7 days)`);
        grant = { type: 'executable', scope: open.scope, exe: c.exe, until: now + a.forMs, grantedAt: now };
      }
    }
    if (grant) {
      grants.prune(isSameProcess, now);
      grants.add(grant);
    }
    finish(open, a.type, by, a.type === 'allow-executable' ? a.forMs : undefined);
    // Other programs waiting in the same scope that this grant covers (another psql of an allowed executable) go on too.
    if (grant) for (const other of prompts.list()) if (other.client && grants.find(other.scope, other.client, now)) finish(other, a.type, by);
    return true;
  }

  return {
    check,
    required,
    list: () => prompts.list().map((p) => ({ ...p.prompt })),
    answer,
    lock: (by, lockOptions) => setLocked(true, by, lockOptions?.closeSessions === true),
    unlock: (by) => setLocked(false, by),
    autoLock(event) {
      if (autoLocks(event, options.config())) setLocked(true, event);
    },
    state: () => lockSwitch.state(),
    subscribe: events.subscribe,
    configChanged() {
      idle.rearm();
      if (anyServiceAsks(options.config()) && !events.size()) {
        logger.warn('a service asks for approval but nothing can answer here (run serve --ui, or the desktop app): its connections will be refused after the approval timeout');
      }
    },
    close() {
      idle.stop();
      for (const p of prompts.list()) finish(p, 'withdrawn', 'client-gone');
      events.clear();
    },
  };
}

function refusal(p: ApprovalPrompt, outcome: string, timeoutMs: number): string {
  const who = p.process.exe ? `${p.process.exe}, pid ${p.process.pid}` : p.process.pid !== undefined ? `pid ${p.process.pid}` : 'unknown';
  const what = p.key ? `key '${p.key.name}' of service '${p.service}'` : `service '${p.service}'`;
  const head = `the broker's user did not allow this program (${who}) to use ${what} (approval: ask)`;
  if (outcome === 'timeout') return `${head}: nobody answered within ${Math.round(timeoutMs / 1000)} s; answer in Secretless Desktop or with \`secretless-desktop approve\``;
  if (outcome === 'withdrawn') return `${head}: the request was withdrawn`;
  return `${head}: denied`;
}

/** Where the client connected: the listener's real port (a configured port 0 is not what the user sees). */
function listenerAddress(req: ApprovalRequest): string {
  const { localAddress, localPort } = req.socket;
  if (req.service.listenOn.type !== 'tcp' || !localAddress || !localPort) return formatListenAddress(req.service.listenOn);
  const host = localAddress.replace(/^::ffff:/, '');
  return `tcp://${host.includes(':') ? `[${host}]` : host}:${localPort}`;
}
