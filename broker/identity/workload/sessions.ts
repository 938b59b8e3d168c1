// Workload identity sessions (github-actions, token-file, token-env): the platform hands
// the process an ID token; there is no login. Each session holds its current token,
// checked before anyone gets it (audience, expiry: jwt-claims.ts), reads a fresh one a
// margin before the token expires (and when a token file changes), and reports state,
// subject, audience and expiry like an OIDC session. The token goes to the exchanges
// that ask for it (idToken()) and nowhere else: events, audit and logs carry claims and
// times only.
import type { BrokerEvent, IdentitySessionInfo, SessionState } from '../../api.js';
import type { AuditSink } from '../../audit/types.js';
import type { Logger } from '../../log.js';
import { createEmitter } from '../../net/emitter.js';
import { isWorkload, type IdentityConfig, type WorkloadIdentity } from '../config.js';
import { safeReason } from '../context.js';
import { checkToken, type TokenClaims } from '../jwt-claims.js';
import { createRefreshTimer, nextRefreshAt } from '../refresh-schedule.js';
import { createGithubActionsSource } from './github-actions.js';
import { createTokenEnvSource } from './token-env.js';
import { createTokenFileSource } from './token-file.js';
import type { TokenSource } from './token-source.js';

export interface WorkloadSessionsOptions {
  audit: AuditSink;
  logger: Logger;
  /** Read a fresh token this long before the current one expires. Default 60 s. */
  marginMs?: number;
  /** Per read (a request to the GitHub token service). Default 15 s. */
  timeoutMs?: number;
  /** Where github-actions and token-env look. Default process.env. */
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

export interface WorkloadSessions {
  has(name: string): boolean;
  list(): IdentitySessionInfo[];
  subscribe(listener: (event: BrokerEvent) => void): () => void;
  apply(identities: IdentityConfig[] | undefined): void;
  /** Read the first token of every new session and start watching token files. */
  resume(): Promise<void>;
  wake(): void;
  idToken(name: string, opts: { signal: AbortSignal }): Promise<{ token: string; expiresAt: Date }>;
  generation(name: string): number;
  close(): void;
}

interface Session {
  config: WorkloadIdentity;
  source: TokenSource;
  state: SessionState;
  reason?: string;
  token?: { jwt: string; claims: TokenClaims };
  reading?: Promise<void>;
  /** A change was seen during a read: read once more after it (the read may have seen the old file). */
  changedDuringRead?: boolean;
  started: boolean;
  failures: number;
  /** The reason of the last failed read, until a read succeeds. */
  lastFailure?: string;
  generation: number;
  timer: ReturnType<typeof createRefreshTimer>;
  stopWatch(): void;
}

/** A token handed out must stay valid for the exchange it is used in. */
const MIN_TOKEN_LIFE_MS = 5_000;
/** Unique across sessions: credentials obtained with a replaced session are never reused. */
let generations = 1;

export function createWorkloadSessions(options: WorkloadSessionsOptions): WorkloadSessions {
  const { audit, logger } = options;
  const margin = options.marginMs ?? 60_000;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const env = options.env ?? process.env;
  const now = options.now ?? Date.now;
  const sessions = new Map<string, Session>();
  const events = createEmitter<BrokerEvent>((err) => logger.warn('identity event listener failed', { reason: (err as Error).message }));

  const info = (s: Session): IdentitySessionInfo => ({
    name: s.config.name,
    type: s.config.type,
    issuer: s.token?.claims.issuer || s.source.origin,
    ...(s.token?.claims.subject ? { subject: s.token.claims.subject } : {}),
    audience: s.config.audience,
    state: s.state,
    ...(s.token ? { expiresAt: s.token.claims.expiresAt.toISOString() } : {}),
    ...(s.reason ? { reason: s.reason } : {}),
  });
  const setState = (s: Session, state: SessionState, reason?: string): void => {
    const changed = s.state !== state || s.reason !== reason;
    s.state = state;
    s.reason = reason;
    if (changed) events.emit({ type: 'session.changed', session: info(s) });
  };
  const get = (name: string): Session => {
    const s = sessions.get(name);
    if (!s) throw new Error(`no workload identity named '${name}' is configured`);
    return s;
  };
  const lifeLeft = (s: Session): number => (s.token ? s.token.claims.expiresAt.getTime() - now() : -1);

  function schedule(s: Session): void {
    s.timer.clear();
    // No token yet: retry with backoff (a token file that appears later, a service that was down).
    const expiresAt = s.token ? s.token.claims.expiresAt.getTime() : now();
    s.timer.at(nextRefreshAt(expiresAt, s.failures, margin, now()), now());
  }

  /** Read the platform's current token; one read at a time per session. */
  function read(s: Session): Promise<void> {
    if (s.reading) return s.reading;
    s.reading = (async () => {
      const name = s.config.name;
      if (!s.token) setState(s, 'refreshing', s.reason);
      try {
        const jwt = (await s.source.read(AbortSignal.timeout(timeoutMs))).trim();
        const claims = checkToken(jwt, s.config.audience, now());
        const previous = s.token;
        // Another principal (a rotated file naming another service account): nothing obtained with the old one is reused.
        if (previous && previous.claims.subject !== claims.subject) s.generation = generations++;
        s.token = { jwt, claims };
        s.failures = 0;
        s.lastFailure = undefined;
        if (previous?.jwt !== jwt) {
          const expiresAt = claims.expiresAt.toISOString();
          audit.record(previous ? { type: 'identity.refreshed', identity: name, expiresAt } : { type: 'identity.login', identity: name, flow: s.config.type, expiresAt });
          logger.info(previous ? 'identity token renewed' : 'identity token read', { identity: name, type: s.config.type, subject: claims.subject, expiresAt });
        }
        setState(s, 'active');
      } catch (err) {
        const reason = safeReason(err);
        s.failures++;
        // Retries with backoff must not flood the audit log: a failure is recorded when its reason changes.
        if (s.lastFailure !== reason) {
          s.lastFailure = reason;
          audit.record({ type: 'identity.failed', identity: name, step: 'token', reason });
          logger.warn('identity token unusable', { identity: name, type: s.config.type, reason });
        }
        // A still-valid earlier token keeps serving until it expires, as an OIDC session does.
        if (s.token && lifeLeft(s) <= MIN_TOKEN_LIFE_MS) s.token = undefined;
        if (s.failures === 1 && s.token) events.emit({ type: 'session.expiring', identity: name, expiresAt: s.token.claims.expiresAt.toISOString() });
        setState(s, 'refresh-failed', reason);
        throw new Error(reason);
      } finally {
        schedule(s);
      }
    })().finally(() => {
      s.reading = undefined;
      if (s.changedDuringRead) {
        s.changedDuringRead = false;
        void read(s).catch(() => {});
      }
    });
    return s.reading;
  }

  /** A watch event: a rotation is several events (new dir, ..data_tmp, rename), and one read may run before the swap. */
  function changed(s: Session): void {
    if (s.reading) s.changedDuringRead = true;
    else void read(s).catch(() => {});
  }

  function start(s: Session): Promise<void> {
    if (s.started) return s.reading ?? Promise.resolve();
    s.started = true;
    const stop = s.source.watch?.(
      () => changed(s),
      (reason) => logger.warn('token file watch', { identity: s.config.name, reason }),
    );
    if (stop) s.stopWatch = stop;
    return read(s).catch(() => {});
  }

  function drop(s: Session): void {
    s.timer.clear();
    s.stopWatch();
    sessions.delete(s.config.name);
  }

  return {
    has: (name) => sessions.has(name),
    list: () => [...sessions.values()].map(info),
    subscribe: events.subscribe,
    apply(identities) {
      const wanted = new Map((identities ?? []).filter(isWorkload).map((i) => [i.name, i]));
      for (const [name, s] of sessions) {
        const next = wanted.get(name);
        if (next && JSON.stringify({ ...next, line: 0 }) === JSON.stringify({ ...s.config, line: 0 })) s.config = next;
        else drop(s);
      }
      for (const [name, config] of wanted) {
        if (sessions.has(name)) continue;
        const s: Session = {
          config,
          source: createTokenSource(config, env),
          state: 'refreshing',
          reason: 'reading the token',
          started: false,
          failures: 0,
          generation: generations++,
          timer: createRefreshTimer(() => void read(s).catch(() => {})),
          stopWatch: () => {},
        };
        sessions.set(name, s);
      }
    },
    async resume() {
      await Promise.all([...sessions.values()].map(start));
    },
    wake() {
      for (const s of sessions.values()) {
        if (!s.started || s.reading) continue;
        if (lifeLeft(s) < margin) void read(s).catch(() => {});
        else schedule(s);
      }
    },
    async idToken(name, { signal }) {
      const s = get(name);
      if (!s.started) await start(s);
      // Read again when the token is near its end (the timer may not have fired yet, or slept).
      if (lifeLeft(s) < Math.max(margin, MIN_TOKEN_LIFE_MS)) await read(s).catch(() => {});
      if (signal.aborted) throw new Error('aborted');
      if (!s.token || lifeLeft(s) < MIN_TOKEN_LIFE_MS) throw new Error(`identity '${name}' (${s.config.type}) has no usable token: ${s.reason ?? 'none read'}`);
      return { token: s.token.jwt, expiresAt: s.token.claims.expiresAt };
    },
    generation: (name) => sessions.get(name)?.generation ?? 0,
    close() {
      for (const s of [...sessions.values()]) drop(s);
    },
  };
}

export function createTokenSource(config: WorkloadIdentity, env: NodeJS.ProcessEnv): TokenSource {
  switch (config.type) {
    case 'github-actions':
      return createGithubActionsSource(config, env);
    case 'token-file':
      return createTokenFileSource(config);
    case 'token-env':
      return createTokenEnvSource(config, env);
  }
}
