// OIDC identity sessions with openid-client v6: login (authorization code with PKCE on a
// loopback redirect, or the device flow), refresh before expiry, logout with revocation,
// and resume from the OS keychain after a restart. Tokens go to the TokenStore (the
// keychain) and to nobody else: events, audit records, logs and errors carry names,
// states and times only.
//
// openid-client checks state, PKCE, nonce, issuer, audience and expiry; signature checks
// on ID tokens from the token endpoint are optional in OIDC, so they are switched on here
// (enableNonRepudiationChecks): a tampered token is refused, not just trusted over TLS.
import * as oidc from 'openid-client';
import type { BrokerEvent, IdentitySessionInfo, IdentitySessions, LoginStart, SessionState } from '../api.js';
import type { AuditSink } from '../audit/types.js';
import type { CredentialSpec } from '../config/types.js';
import type { Logger } from '../log.js';
import { isLoopbackHostname, type IdentityConfig, type OidcIdentity } from './config.js';
import { openSystemBrowser, startLoopbackReceiver } from './loopback.js';
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
  timer?: NodeJS.Timeout;
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

  function discover(s: Session): Promise<oidc.Configuration> {
    if (s.discovered) return s.discovered;
    const c = s.config;
    const url = new URL(c.issuer);
    const insecure = url.protocol === 'http:' && isLoopbackHostname(url.hostname);
    s.discovered = (async () => {
      const secret = c.clientSecret && options.readSecret ? (await options.readSecret(c.clientSecret, AbortSignal.timeout(httpTimeout * 1000))).toString('utf8') : undefined;
      const config = await oidc.discovery(url, c.clientId, secret, secret ? undefined : oidc.None(), {
        execute: insecure ? [oidc.allowInsecureRequests] : [],
        timeout: httpTimeout,
      });
      oidc.enableNonRepudiationChecks(config);
      return config;
    })();
    s.discovered.catch(() => (s.discovered = undefined));
    return s.discovered;
  }

  async function store_(s: Session, tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers, previous?: StoredTokens): Promise<StoredTokens> {
    const claims = tokens.claims();
    if (!tokens.id_token || !claims) throw new Error('the provider returned no ID token');
    const stored: StoredTokens = {
      issuer: s.config.issuer,
      clientId: s.config.clientId,
      idToken: tokens.id_token,
      ...(tokens.refresh_token ?? previous?.refreshToken ? { refreshToken: tokens.refresh_token ?? previous!.refreshToken } : {}),
      ...(tokens.access_token ? { accessToken: tokens.access_token } : {}),
      expiresAt: new Date(claims.exp * 1000).toISOString(),
    };
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
    clearTimeout(s.timer);
    if (!s.tokens) return;
    const expiresAt = Date.parse(s.tokens.expiresAt);
    const backoff = s.failures === 0 ? 0 : Math.min(30_000, 1000 * 2 ** (s.failures - 1));
    // Tokens that live shorter than twice the margin refresh at half their remaining life,
    // not at once (which would refresh in a loop).
    const lead = Math.min(margin, Math.max(0, (expiresAt - now()) / 2));
    // After failures: retry with backoff, at the latest at expiry (past it, with backoff only).
    const retry = expiresAt > now() ? Math.min(now() + backoff, expiresAt) : now() + backoff;
    const at = s.failures === 0 ? expiresAt - lead : retry;
    s.timer = setTimeout(() => void onTimer(s), Math.max(0, at - now()));
    s.timer.unref();
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
    clearTimeout(s.timer);
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
        const tokens = await oidc.refreshTokenGrant(config, previous.refreshToken);
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
    const extra: Record<string, string> = { scope: c.scopes.join(' '), ...(c.audience ? { audience: c.audience } : {}) };
    const fail = (step: string, err: unknown): never => {
      const reason = describe(err);
      audit.record({ type: 'identity.failed', identity: c.name, step, reason });
      logger.warn('identity login failed', { identity: c.name, step, reason });
      setState(s, s.tokens ? s.state : 'login-needed', `login failed: ${reason}`);
      throw new Error(`login to '${c.name}' failed: ${reason}`);
    };
    const finish = async (tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): Promise<IdentitySessionInfo> => {
      const stored = await store_(s, tokens);
      audit.record({ type: 'identity.login', identity: c.name, flow: c.flow, expiresAt: stored.expiresAt });
      logger.info('identity logged in', { identity: c.name, flow: c.flow, expiresAt: stored.expiresAt });
      s.generation++;
      setState(s, 'active');
      return info(s);
    };
    let config: oidc.Configuration;
    try {
      config = await discover(s);
    } catch (err) {
      return fail('discovery', err);
    }
    let start: LoginStart;
    let done: Promise<IdentitySessionInfo>;
    if (c.flow === 'device_code') {
      let device: oidc.DeviceAuthorizationResponse;
      try {
        device = await oidc.initiateDeviceAuthorization(config, extra);
      } catch (err) {
        return fail('device_authorization', err);
      }
      start = {
        flow: 'device_code',
        verificationUri: device.verification_uri,
        ...(device.verification_uri_complete ? { verificationUriComplete: device.verification_uri_complete } : {}),
        userCode: device.user_code,
      };
      done = (async () => {
        let tokens;
        try {
          tokens = await oidc.pollDeviceAuthorizationGrant(config, device, undefined, { signal: controller.signal });
        } catch (err) {
          return fail('device_poll', err);
        }
        return finish(tokens);
      })();
    } else {
      const receiver = await startLoopbackReceiver({ port: c.redirectPort, signal: controller.signal });
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const params: Record<string, string> = {
        ...extra,
        redirect_uri: receiver.redirectUri,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      };
      // Providers drop offline_access (no refresh token) unless consent is asked for.
      if (c.scopes.includes('offline_access')) params.prompt = 'consent';
      const url = oidc.buildAuthorizationUrl(config, params).href;
      start = { flow: 'authorization_code', url };
      done = (async () => {
        let tokens;
        try {
          const callback = await receiver.callback;
          tokens = await oidc.authorizationCodeGrant(config, callback, {
            pkceCodeVerifier: verifier,
            expectedState: state,
            expectedNonce: nonce,
            idTokenExpected: true,
          });
        } catch (err) {
          return fail('authorization_code', err);
        }
        return finish(tokens);
      })();
      try {
        openBrowser(url);
      } catch (err) {
        logger.warn('could not open the browser; open the login URL yourself', { identity: c.name, reason: (err as Error).message });
      }
    }
    done.catch(() => {}).finally(() => {
      signal?.removeEventListener('abort', onOuter);
      if (s.login?.done === done) {
        s.login = undefined;
        s.lastLogin = done;
      }
    });
    s.login = { controller, done };
    setState(s, s.state === 'active' ? 'active' : 'login-needed', 'login in progress');
    return start;
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
      clearTimeout(s.timer);
      if (!s.loaded) await load(s);
      const tokens = s.tokens ?? (await store.load(name).catch(() => undefined));
      let revoked = false;
      if (tokens?.refreshToken || tokens?.accessToken) {
        try {
          const config = await discover(s);
          if (config.serverMetadata().revocation_endpoint) {
            if (tokens.refreshToken) await oidc.tokenRevocation(config, tokens.refreshToken, { token_type_hint: 'refresh_token' });
            if (tokens.accessToken) await oidc.tokenRevocation(config, tokens.accessToken, { token_type_hint: 'access_token' });
            revoked = true;
          }
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
        clearTimeout(s.timer);
        s.login?.controller.abort();
        sessions.delete(name);
      }
      for (const [name, config] of wanted) {
        if (!sessions.has(name)) sessions.set(name, { config, state: 'login-needed', loaded: false, failures: 0, generation: 0 });
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
      clearTimeout(s.timer);
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
        clearTimeout(s.timer);
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

function isInvalidGrant(err: unknown): boolean {
  return err instanceof oidc.ResponseBodyError && err.error === 'invalid_grant';
}

/** A one-line reason from openid-client's errors; anything shaped like a JWT is masked. */
export function describe(err: unknown): string {
  let text = err instanceof oidc.ResponseBodyError ? `${err.error}${err.error_description ? `: ${err.error_description}` : ''}` : err instanceof Error ? err.message : String(err);
  if (err instanceof oidc.AuthorizationResponseError) text = `${err.error}${err.error_description ? `: ${err.error_description}` : ''}`;
  // openid-client wraps oauth4webapi's precise (static) message as the cause.
  const c = err instanceof Error ? err.cause : undefined;
  const cause = c instanceof Error && c.message !== (err as Error).message ? ` (${c.message})` : c instanceof Response ? ` (HTTP ${c.status})` : '';
  return (text.split('\n')[0]! + cause).replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '[token]').slice(0, 300);
}
