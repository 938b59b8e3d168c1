// OIDC identity sessions: the state of each session (login-needed, active, refreshing,
// refresh-failed, logged-out) and its transitions on login, refresh, expiry, logout and
// resume from the OS keychain after a restart. The calls to the provider are in
// oidc-calls.ts, the refresh timing in refresh-schedule.ts. Tokens go to the TokenStore
// (the keychain) and to nobody else: events, audit records, logs and errors carry names,
// states and times only.
import type * as oidc from 'openid-client';
import type { BrokerEvent, IdentitySessionInfo, IdentitySessions, LoginStart, SessionState } from '../api.js';
import type { AuditSink } from '../audit/types.js';
import type { CredentialSpec } from '../config/types.js';
import type { Logger } from '../log.js';
import type { IdentityConfig, OidcIdentity } from './config.js';
import { openSystemBrowser } from './loopback.js';
import { describe, discover as discoverProvider, isInvalidGrant, LoginStepError, refreshTokens, revokeTokens, startLogin, toStoredTokens, type TokenResponse } from './oidc-calls.js';
import { createRefreshTimer, nextRefreshAt } from './refresh-schedule.js';
import type { StoredTokens, TokenStore } from './token-store.js';
import { createEmitter } from '../net/emitter.js';

export interface IdentitySessionsOptions {
  store: TokenStore;
  audit: AuditSink;
  logger: Logger;
  /** Shows the authorization URL to the user; default: the system browser. */
  openBrowser?: (url: string) => void;
  /** Reads a `{from, get}` secret (a confidential client's secret). */
  readSecret?: (spec: CredentialSpec, signal: AbortSignal) => Promise<Buffer>;
  /** Refresh this long before the ID token expires. Default 60 s. */
  refreshMarginMs?: number;
  /** Per HTTP request to the provider. Default 15 s. */
  httpTimeoutMs?: number;
  now?: () => number;
}

export interface IdentitySessionManager extends IdentitySessions {
  /** Take the `identities:` section (non-oidc entries are ignored). */
  apply(identities: IdentityConfig[] | undefined): void;
  /** Load stored tokens for every identity and schedule refreshes. */
  resume(): Promise<void>;
  /**
   * The machine woke from sleep: timers may have slept through a refresh or an expiry.
   * Sessions due for a refresh (or past expiry, with a refresh token) refresh now; the
   * others are rescheduled from the current clock.
   */
  wake(): void;
  /** Settles when the login started by login() finishes. */
  waitForLogin(name: string, signal?: AbortSignal): Promise<IdentitySessionInfo>;
  /** A current ID token (refreshed first when it is about to expire). */
  idToken(name: string, opts: { signal: AbortSignal }): Promise<{ token: string; expiresAt: Date }>;
  /**
   * Another process logged in or out: drop what this process holds for the identity and
   * read the keychain again. A logout leaves the session `logged-out`.
   */
  reload(name: string, change: 'login' | 'logout'): Promise<void>;
  /**
   * Changes with every login, logout and reload of the session: credentials obtained with
   * the session (STS, Vault) are keyed by it, so none outlives a logout.
   */
  generation(name: string): number;
  /** A current access token of the same session (for APIs that take the login's bearer token). */
  accessToken(name: string, opts: { signal: AbortSignal }): Promise<{ token: string; expiresAt: Date }>;
  close(): void;
}

interface Session {
  config: OidcIdentity;
  state: SessionState;
  reason?: string;
  tokens?: StoredTokens;
  timer: ReturnType<typeof createRefreshTimer>;
  discovered?: Promise<oidc.Configuration>;
  login?: { controller: AbortController; done: Promise<IdentitySessionInfo> };
  /** The login that finished last: waitForLogin() may be called after a fast login completed. */
  lastLogin?: Promise<IdentitySessionInfo>;
  refreshing?: Promise<void>;
  loaded: boolean;
  /** Refresh attempts that failed since the last success. */
  failures: number;
  generation: number;
}

/** An ID token with less than this left is refreshed before use, never handed out. */
const MIN_TOKEN_LIFE_MS = 5_000;

export function createIdentitySessions(options: IdentitySessionsOptions): IdentitySessionManager {
  const { store, audit, logger } = options;
  const margin = options.refreshMarginMs ?? 60_000;
  const httpTimeout = Math.ceil((options.httpTimeoutMs ?? 15_000) / 1000);
  const now = options.now ?? Date.now;
  const openBrowser = options.openBrowser ?? openSystemBrowser;
  const sessions = new Map<string, Session>();
  const events = createEmitter<BrokerEvent>((err) => logger.warn('identity event listener failed', { reason: (err as Error).message }));
  const emit = events.emit;
  const info = (s: Session): IdentitySessionInfo => ({
    name: s.config.name,
    issuer: s.config.issuer,
    state: s.state,
    ...(s.tokens ? { expiresAt: s.tokens.expiresAt } : {}),
    ...(s.reason ? { reason: s.reason } : {}),
  });
  const setState = (s: Session, state: SessionState, reason?: string): void => {
    const changed = s.state !== state || s.reason !== reason;
    s.state = state;
    s.reason = reason;
    if (changed) emit({ type: 'session.changed', session: info(s) });
  };
  const get = (name: string): Session => {
    const s = sessions.get(name);
    if (!s) throw new Error(`no oidc identity named '${name}' is configured`);
    return s;
  };

  /** The provider's configuration, discovered once per session (again after a failure). */
  function discover(s: Session): Promise<oidc.Configuration> {
    if (s.discovered) return s.discovered;
    s.discovered = discoverProvider(s.config, { httpTimeoutSeconds: httpTimeout, readSecret: options.readSecret });
    s.discovered.catch(() => (s.discovered = undefined));
    return s.discovered;
  }

  async function store_(s: Session, tokens: TokenResponse, previous?: StoredTokens): Promise<StoredTokens> {
    const stored = toStoredTokens(s.config, tokens, previous);
    s.tokens = stored;
    s.failures = 0;
    try {
      await store.save(s.config.name, stored);
    } catch (err) {
      // The session still works in memory; only resuming after a restart is lost.
      logger.warn('could not store identity tokens in the OS keychain', { identity: s.config.name, reason: (err as Error).message });
    }
    schedule(s);
    return stored;
  }

  function schedule(s: Session): void {
    s.timer.clear();
    if (!s.tokens) return;
    s.timer.at(nextRefreshAt(Date.parse(s.tokens.expiresAt), s.failures, margin, now()), now());
  }

  async function onTimer(s: Session): Promise<void> {
    if (!s.tokens) return;
    // Past expiry (the timer slept with the machine): a refresh token still gets new tokens.
    if (now() >= Date.parse(s.tokens.expiresAt) && !s.tokens.refreshToken) {
      expire(s, s.reason ?? 'the session expired');
      return;
    }
    await refresh(s).catch(() => {});
  }

  function expire(s: Session, reason: string): void {
    s.timer.clear();
    s.tokens = undefined;
    setState(s, 'login-needed', reason);
    emit({ type: 'session.expired', identity: s.config.name });
  }

  function refresh(s: Session): Promise<void> {
    if (s.refreshing) return s.refreshing;
    s.refreshing = (async () => {
      const previous = s.tokens;
      const name = s.config.name;
      if (!previous?.refreshToken) {
        if (previous) emit({ type: 'session.expiring', identity: name, expiresAt: previous.expiresAt });
        setState(s, s.state, 'no refresh token: log in again before the session expires');
        return;
      }
      setState(s, 'refreshing', s.reason);
      try {
        const config = await discover(s);
        const tokens = await refreshTokens(config, previous.refreshToken);
        const stored = await store_(s, tokens, previous);
        audit.record({ type: 'identity.refreshed', identity: name, expiresAt: stored.expiresAt });
        logger.info('identity refreshed', { identity: name, expiresAt: stored.expiresAt });
        setState(s, 'active');
      } catch (err) {
        const reason = describe(err);
        s.failures++;
        audit.record({ type: 'identity.failed', identity: name, step: 'refresh', reason });
        logger.warn('identity refresh failed', { identity: name, reason });
        if (isInvalidGrant(err)) {
          // The provider no longer honours the refresh token: only a new login helps.
          await store.delete(name).catch(() => {});
          expire(s, `refresh refused by the provider: ${reason}`);
          throw new Error(reason);
        }
        if (s.failures === 1) emit({ type: 'session.expiring', identity: name, expiresAt: previous.expiresAt });
        setState(s, 'refresh-failed', reason);
        schedule(s);
        throw new Error(reason);
      }
    })().finally(() => (s.refreshing = undefined));
    return s.refreshing;
  }

  async function load(s: Session): Promise<void> {
    s.loaded = true;
    let stored: StoredTokens | undefined;
    try {
      stored = await store.load(s.config.name);
    } catch (err) {
      logger.warn('could not read identity tokens from the OS keychain', { identity: s.config.name, reason: (err as Error).message });
      setState(s, 'login-needed', (err as Error).message);
      return;
    }
    if (!stored || stored.issuer !== s.config.issuer || stored.clientId !== s.config.clientId) {
      setState(s, 'login-needed', 'not logged in');
      return;
    }
    s.tokens = stored;
    s.failures = 0;
    if (now() >= Date.parse(stored.expiresAt) - margin) {
      if (!stored.refreshToken) {
        s.tokens = undefined;
        setState(s, 'login-needed', 'the stored session expired');
        return;
      }
      await refresh(s).catch(() => {});
      return;
    }
    setState(s, 'active');
    schedule(s);
  }

  async function runLogin(s: Session, signal: AbortSignal | undefined): Promise<LoginStart> {
    s.login?.controller.abort();
    const controller = new AbortController();
    const onOuter = () => controller.abort();
    signal?.addEventListener('abort', onOuter, { once: true });
    const c = s.config;
    const fail = (step: string, err: unknown): never => {
      const reason = describe(err);
      audit.record({ type: 'identity.failed', identity: c.name, step, reason });
      logger.warn('identity login failed', { identity: c.name, step, reason });
      setState(s, s.tokens ? s.state : 'login-needed', `login failed: ${reason}`);
      throw new Error(`login to '${c.name}' failed: ${reason}`);
    };
    // A failed step is audited and explained; anything else (the loopback port taken) is thrown as it is.
    const failStep = (err: unknown): never => {
      if (err instanceof LoginStepError) return fail(err.step, err.error);
      throw err;
    };
    let flow: Awaited<ReturnType<typeof startLogin>>;
    try {
      const config = await discover(s).catch((err: unknown) => {
        throw new LoginStepError('discovery', err);
      });
      flow = await startLogin(config, c, controller.signal, (url) => {
        try {
          openBrowser(url);
        } catch (err) {
          logger.warn('could not open the browser; open the login URL yourself', { identity: c.name, reason: (err as Error).message });
        }
      });
    } catch (err) {
      return failStep(err);
    }
    const done = flow.tokens.then(async (tokens) => {
      const stored = await store_(s, tokens);
      audit.record({ type: 'identity.login', identity: c.name, flow: c.flow, expiresAt: stored.expiresAt });
      logger.info('identity logged in', { identity: c.name, flow: c.flow, expiresAt: stored.expiresAt });
      s.generation++;
      setState(s, 'active');
      return info(s);
    }, failStep);
    done.catch(() => {}).finally(() => {
      signal?.removeEventListener('abort', onOuter);
      if (s.login?.done === done) {
        s.login = undefined;
        s.lastLogin = done;
      }
    });
    s.login = { controller, done };
    setState(s, s.state === 'active' ? 'active' : 'login-needed', 'login in progress');
    return flow.start;
  }

  return {
    list: () => [...sessions.values()].map(info),
    subscribe: events.subscribe,
    login: async (name, opts) => runLogin(get(name), opts?.signal),
    async waitForLogin(name, signal) {
      const s = get(name);
      const done = s.login?.done ?? s.lastLogin;
      if (!done) throw new Error(`no login for '${name}' is in progress`);
      const onAbort = () => s.login?.controller.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        return await done;
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },
    async logout(name) {
      const s = get(name);
      s.login?.controller.abort();
      s.lastLogin = undefined;
      s.timer.clear();
      if (!s.loaded) await load(s);
      const tokens = s.tokens ?? (await store.load(name).catch(() => undefined));
      let revoked = false;
      if (tokens?.refreshToken || tokens?.accessToken) {
        try {
          revoked = await revokeTokens(await discover(s), tokens);
        } catch (err) {
          logger.warn('token revocation failed; the stored tokens are deleted anyway', { identity: name, reason: describe(err) });
        }
      }
      await store.delete(name).catch((err) => logger.warn('could not delete identity tokens from the OS keychain', { identity: name, reason: (err as Error).message }));
      s.tokens = undefined;
      s.generation++;
      audit.record({ type: 'identity.logout', identity: name, revoked });
      logger.info('identity logged out', { identity: name, revoked });
      setState(s, 'logged-out');
    },
    apply(identities) {
      const wanted = new Map((identities ?? []).filter((i): i is OidcIdentity => i.type === 'oidc').map((i) => [i.name, i]));
      for (const [name, s] of sessions) {
        const next = wanted.get(name);
        if (next && JSON.stringify(next) === JSON.stringify(s.config)) continue;
        if (next && JSON.stringify({ ...next, line: 0 }) === JSON.stringify({ ...s.config, line: 0 })) {
          s.config = next;
          continue;
        }
        s.timer.clear();
        s.login?.controller.abort();
        sessions.delete(name);
      }
      for (const [name, config] of wanted) {
        if (sessions.has(name)) continue;
        const s: Session = { config, state: 'login-needed', loaded: false, failures: 0, generation: 0, timer: createRefreshTimer(() => void onTimer(s)) };
        sessions.set(name, s);
      }
    },
    async resume() {
      await Promise.all([...sessions.values()].filter((s) => !s.loaded).map((s) => load(s)));
    },
    wake() {
      for (const s of sessions.values()) {
        if (!s.tokens || s.refreshing) continue;
        if (now() >= Date.parse(s.tokens.expiresAt) - margin) void onTimer(s);
        else schedule(s);
      }
    },
    idToken: (name, { signal }) => currentTokens(name, signal).then((t) => ({ token: t.idToken, expiresAt: new Date(t.expiresAt) })),
    async accessToken(name, { signal }) {
      const t = await currentTokens(name, signal);
      if (!t.accessToken) throw new Error(`identity '${name}': the provider issued no access token`);
      return { token: t.accessToken, expiresAt: new Date(t.expiresAt) };
    },
    async reload(name, change) {
      const s = sessions.get(name);
      // A login in progress here finishes with its own tokens.
      if (!s || s.login) return;
      s.timer.clear();
      s.tokens = undefined;
      s.lastLogin = undefined;
      s.generation++;
      logger.info('identity changed by another process; reading the OS keychain again', { identity: name, change });
      await load(s);
      if (!s.tokens && change === 'logout') setState(s, 'logged-out');
    },
    generation: (name) => sessions.get(name)?.generation ?? 0,
    close() {
      for (const s of sessions.values()) {
        s.timer.clear();
        s.login?.controller.abort();
      }
    },
  };

  /** The session's tokens, refreshed first when they are about to expire. */
  async function currentTokens(name: string, signal: AbortSignal): Promise<StoredTokens> {
    const s = get(name);
    // Not logged in here: the keychain may hold a login done since (e.g. by `login` in a terminal).
    if (!s.tokens && !s.login) await load(s);
    if (signal.aborted) throw new Error('aborted');
    // A token handed out must stay valid for the exchange it is used in (MIN_TOKEN_LIFE_MS);
    // refresh first when it has less left than that or than the refresh margin.
    if (s.tokens && now() >= Date.parse(s.tokens.expiresAt) - Math.max(margin, MIN_TOKEN_LIFE_MS)) await refresh(s).catch(() => {});
    const t = s.tokens;
    if (!t || now() >= Date.parse(t.expiresAt) - MIN_TOKEN_LIFE_MS) {
      throw new Error(`identity '${name}' is not logged in (${s.reason ?? s.state}): run \`secretless-desktop login ${name}\``);
    }
    return t;
  }
}
