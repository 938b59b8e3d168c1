// Google access tokens for an `identities:` entry of type gcp, through Google's own
// google-auth-library (v10: the last line that runs on Node 20):
//  - identity + audience: workload identity federation. The identity's token is the
//    subject token of an RFC 8693 exchange at Google's STS (`/v1/token`); with
//    `serviceAccount` the federated token then impersonates that account
//    (iamcredentials `generateAccessToken`). The library takes our token through its
//    subject-token supplier, so it never touches a file.
//  - neither: application-default credentials, read from GOOGLE_APPLICATION_CREDENTIALS
//    or gcloud's application_default_credentials.json (`gcloud auth
//    application-default login`: an authorized_user refresh token). We read the file
//    ourselves instead of asking GoogleAuth for "the default", which would probe the GCE
//    metadata server on a laptop.
// The library caches a token until `marginMs` before it expires; a config edit, a new
// login or a rewritten ADC file gets a new client (and so a new token).
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { AuthClient } from 'google-auth-library';
import type { EntryTokenSource } from './access-token.js';
import type { GcpIdentity } from './config.js';
import { safeReason, type IdentityContext } from './context.js';
import { raceSignal } from '../net/race-signal.js';

const GOOGLE = { sts: 'https://sts.googleapis.com', iamCredentials: 'https://iamcredentials.googleapis.com', oauth2: 'https://oauth2.googleapis.com' };

export function createGcpTokenSource(ctx: IdentityContext, opts: { env?: NodeJS.ProcessEnv } = {}): EntryTokenSource {
  const env = opts.env ?? process.env;
  const clients = new Map<string, { key: string; client: AuthClient }>();
  const lastExpiry = new Map<string, number>();
  /** Errors of our own identities (as opposed to Google's answers). */
  const ours = new WeakSet<object>();

  const entry = (name: string): GcpIdentity => {
    const e = ctx.entry(name);
    if (!e) throw new Error(`no identity named '${name}' is configured`);
    if (e.type !== 'gcp') throw new Error(`identity '${name}' is not of type gcp`);
    return e;
  };

  /** Loaded on first use: most configs have no gcp entry, and the broker should start fast. */
  const library = () => import('google-auth-library');

  async function federated(e: GcpIdentity): Promise<AuthClient> {
    const { IdentityPoolClient } = await library();
    const identity = e.identity!;
    const iam = e.endpoints.iamCredentials ?? GOOGLE.iamCredentials;
    return new IdentityPoolClient({
      type: 'external_account',
      audience: e.audience!,
      subject_token_type: `urn:ietf:params:oauth:token-type:${e.subjectTokenType}`,
      token_url: `${e.endpoints.sts ?? GOOGLE.sts}/v1/token`,
      // Shared by every connection waiting for the token, so bound by our timeout, not one caller's signal.
      subject_token_supplier: {
        getSubjectToken: async () => {
          try {
            return (await ctx.sessions.idToken(identity, { signal: AbortSignal.timeout(ctx.timeoutMs) })).token;
          } catch (err) {
            ours.add(err as object); // "log in" and the like pass through unchanged
            throw err;
          }
        },
      },
      ...(e.serviceAccount
        ? {
            service_account_impersonation_url: `${iam}/v1/projects/-/serviceAccounts/${encodeURIComponent(e.serviceAccount)}:generateAccessToken`,
            service_account_impersonation: { token_lifetime_seconds: e.lifetimeSeconds },
          }
        : {}),
      scopes: e.scopes,
      eagerRefreshThresholdMillis: ctx.marginMs,
    });
  }

  async function adcFile(): Promise<{ path: string; version: string }> {
    const path = env.GOOGLE_APPLICATION_CREDENTIALS || join(env.CLOUDSDK_CONFIG || join(env.HOME || homedir(), '.config', 'gcloud'), 'application_default_credentials.json');
    try {
      const s = await stat(path);
      return { path, version: `${s.mtimeMs}:${s.size}` };
    } catch {
      throw new Error(`no Google application-default credentials at ${path}: run \`gcloud auth application-default login\` or set GOOGLE_APPLICATION_CREDENTIALS`);
    }
  }

  async function applicationDefault(e: GcpIdentity, path: string): Promise<AuthClient> {
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    } catch {
      throw new Error(`the Google application-default credentials file ${path} is not readable JSON`);
    }
    const { GoogleAuth } = await library();
    const client = new GoogleAuth({ scopes: e.scopes }).fromJSON(json as never, {
      eagerRefreshThresholdMillis: ctx.marginMs,
      ...(e.endpoints.oauth2 ? { endpoints: { oauth2TokenUrl: `${e.endpoints.oauth2}/token` } } : {}),
    });
    (client as { scopes?: string[] }).scopes ??= e.scopes;
    return client;
  }

  async function clientFor(e: GcpIdentity): Promise<{ client: AuthClient; source: string }> {
    const adc = e.identity ? undefined : await adcFile();
    const key = JSON.stringify([e.identity, e.identity ? ctx.sessions.generation(e.identity) : adc!.version, e.audience, e.subjectTokenType, e.serviceAccount, e.lifetimeSeconds, e.scopes, e.endpoints]);
    const hit = clients.get(e.name);
    const source = e.identity ?? 'application-default';
    if (hit && hit.key === key) return { client: hit.client, source };
    const client = e.identity ? await federated(e) : await applicationDefault(e, adc!.path);
    clients.set(e.name, { key, client });
    return { client, source };
  }

  return {
    async token(name, signal) {
      const e = entry(name);
      const { client, source } = await clientFor(e);
      try {
        const { token } = await raceSignal(client.getAccessToken(), signal);
        const expiry = client.credentials.expiry_date;
        if (!token || !expiry) throw new Error('Google returned no access token');
        if (lastExpiry.get(name) !== expiry) {
          lastExpiry.set(name, expiry);
          ctx.audit.record({ type: 'identity.exchanged', identity: source, provider: 'gcp', expiresAt: new Date(expiry).toISOString() });
          ctx.logger.info('got a Google access token', { identity: source, gcp: name, expiresAt: new Date(expiry).toISOString() });
        }
        return { token, expiresAt: new Date(expiry) };
      } catch (err) {
        // The library words Google's OAuth errors "Error code invalid_grant: <description>".
        const failure = typeof err === 'object' && err !== null && ours.has(err) ? err : new Error(`Google refused the token request (${safeReason(err).replace(/^Error code /, '')})`);
        ctx.audit.record({ type: 'identity.failed', identity: source, step: 'gcp', reason: safeReason(failure) });
        throw failure;
      }
    },
  };
}
