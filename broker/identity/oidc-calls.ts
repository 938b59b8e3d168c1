// The calls to the OpenID provider, through openid-client v6: discovery, the two login
// flows, refresh and revocation, and the conversion of a token response into what the
// keychain stores. No session state lives here (sessions.ts keeps it).
//
// openid-client checks state, PKCE, nonce, issuer, audience and expiry; signature checks
// on ID tokens from the token endpoint are optional in OIDC, so they are switched on here
// (enableNonRepudiationChecks): a tampered token is refused, not just trusted over TLS.
import * as oidc from 'openid-client';
import type { LoginStart } from '../api.js';
import type { CredentialSpec } from '../config/types.js';
import { isLoopbackHostname, type OidcIdentity } from './config.js';
import { startLoopbackReceiver } from './loopback.js';
import type { StoredTokens } from './token-store.js';

export type TokenResponse = oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;

/** A failure of one step of a login, with the step for the audit record. */
export class LoginStepError extends Error {
  constructor(
    readonly step: string,
    readonly error: unknown,
  ) {
    super(describe(error));
  }
}

export async function discover(
  c: OidcIdentity,
  opts: { httpTimeoutSeconds: number; readSecret?: (spec: CredentialSpec, signal: AbortSignal) => Promise<Buffer> },
): Promise<oidc.Configuration> {
  const url = new URL(c.issuer);
  const insecure = url.protocol === 'http:' && isLoopbackHostname(url.hostname);
  const secret = c.clientSecret && opts.readSecret ? (await opts.readSecret(c.clientSecret, AbortSignal.timeout(opts.httpTimeoutSeconds * 1000))).toString('utf8') : undefined;
  const config = await oidc.discovery(url, c.clientId, secret, secret ? undefined : oidc.None(), {
    execute: insecure ? [oidc.allowInsecureRequests] : [],
    timeout: opts.httpTimeoutSeconds,
  });
  oidc.enableNonRepudiationChecks(config);
  return config;
}

/** What the keychain keeps of a token response (a refresh keeps the previous refresh token when none is sent). */
export function toStoredTokens(c: OidcIdentity, tokens: TokenResponse, previous?: StoredTokens): StoredTokens {
  const claims = tokens.claims();
  if (!tokens.id_token || !claims) throw new Error('the provider returned no ID token');
  return {
    issuer: c.issuer,
    clientId: c.clientId,
    idToken: tokens.id_token,
    ...(tokens.refresh_token ?? previous?.refreshToken ? { refreshToken: tokens.refresh_token ?? previous!.refreshToken } : {}),
    ...(tokens.access_token ? { accessToken: tokens.access_token } : {}),
    expiresAt: new Date(claims.exp * 1000).toISOString(),
  };
}

/**
 * Starts the identity's login flow: what to show the user, and the tokens once the user
 * has logged in (rejects with a LoginStepError). `open` is called with the URL of an
 * authorization code login.
 */
export async function startLogin(
  config: oidc.Configuration,
  c: OidcIdentity,
  signal: AbortSignal,
  open: (url: string) => void,
): Promise<{ start: LoginStart; tokens: Promise<TokenResponse> }> {
  const extra: Record<string, string> = { scope: c.scopes.join(' '), ...(c.audience ? { audience: c.audience } : {}) };
  if (c.flow === 'device_code') {
    let device: oidc.DeviceAuthorizationResponse;
    try {
      device = await oidc.initiateDeviceAuthorization(config, extra);
    } catch (err) {
      throw new LoginStepError('device_authorization', err);
    }
    const start: LoginStart = {
      flow: 'device_code',
      verificationUri: device.verification_uri,
      ...(device.verification_uri_complete ? { verificationUriComplete: device.verification_uri_complete } : {}),
      userCode: device.user_code,
    };
    const tokens = oidc.pollDeviceAuthorizationGrant(config, device, undefined, { signal }).catch((err: unknown) => {
      throw new LoginStepError('device_poll', err);
    });
    return { start, tokens };
  }
  const receiver = await startLoopbackReceiver({ port: c.redirectPort, signal });
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
  const tokens = (async () => {
    try {
      const callback = await receiver.callback;
      return await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
    } catch (err) {
      throw new LoginStepError('authorization_code', err);
    }
  })();
  open(url);
  return { start: { flow: 'authorization_code', url }, tokens };
}

export const refreshTokens = (config: oidc.Configuration, refreshToken: string): Promise<TokenResponse> => oidc.refreshTokenGrant(config, refreshToken);

/** Revokes the tokens where the provider has a revocation endpoint; returns whether it did. */
export async function revokeTokens(config: oidc.Configuration, tokens: StoredTokens): Promise<boolean> {
  if (!config.serverMetadata().revocation_endpoint) return false;
  if (tokens.refreshToken) await oidc.tokenRevocation(config, tokens.refreshToken, { token_type_hint: 'refresh_token' });
  if (tokens.accessToken) await oidc.tokenRevocation(config, tokens.accessToken, { token_type_hint: 'access_token' });
  return true;
}

/** The provider no longer honours the refresh token: only a new login helps. */
export function isInvalidGrant(err: unknown): boolean {
  return err instanceof oidc.ResponseBodyError && err.error === 'invalid_grant';
}

/** A one-line reason from openid-client's errors; anything shaped like a JWT is masked. */
export function describe(err: unknown): string {
  // fetch's own failure says only "fetch failed" with the socket error as its cause.
  const fetchError = [err, err instanceof Error ? err.cause : undefined].find((e): e is TypeError => e instanceof TypeError && e.message === 'fetch failed');
  if (fetchError) return `the issuer could not be reached: ${networkReason(fetchError.cause)}`;
  let text = err instanceof oidc.ResponseBodyError ? `${err.error}${err.error_description ? `: ${err.error_description}` : ''}` : err instanceof Error ? err.message : String(err);
  if (err instanceof oidc.AuthorizationResponseError) text = `${err.error}${err.error_description ? `: ${err.error_description}` : ''}`;
  // openid-client wraps oauth4webapi's precise (static) message as the cause.
  const c = err instanceof Error ? err.cause : undefined;
  const cause = c instanceof Error && c.message !== (err as Error).message ? ` (${c.message})` : c instanceof Response ? ` (HTTP ${c.status})` : '';
  return (text.split('\n')[0]! + cause).replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '[token]').slice(0, 300);
}

/** What a network error from fetch means, in words (not `bad port` or a bare errno). */
export function networkReason(cause: unknown): string {
  const e = (cause instanceof AggregateError ? cause.errors[0] : cause) as (Error & { code?: string }) | undefined;
  const code = e?.code ?? '';
  if (e?.message === 'bad port') return "its port is one fetch refuses to use (a port reserved for other protocols, like 1 or 6000): give the issuer another port";
  if (code === 'ECONNREFUSED') return 'connection refused (is the identity provider running on that port?)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'its host name does not resolve';
  if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'no answer in time';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'the connection was closed';
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) return `its TLS certificate is not trusted (${code})`;
  return code ? `network error (${code})` : 'network error';
}
