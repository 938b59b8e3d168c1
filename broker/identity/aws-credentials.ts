// AWS credentials for an `identities:` entry of type aws: either a role assumed with
// an OIDC session's ID token (STS AssumeRoleWithWebIdentity), reused until a margin
// before they expire, or (no identity/roleArn) the SDK's default credential chain.
import { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { AwsIdentity } from './config.js';
import { safeReason, type IdentityContext } from './context.js';
import { signalWithTimeout } from '../net/deadline.js';
import { raceSignal } from '../net/race-signal.js';

export interface AwsSessionCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

export interface AwsCredentialSource {
  /** The aws entry by name, or an Error message naming what is wrong. */
  entry(name: string): AwsIdentity;
  /** Role credentials from STS; only for entries with identity + roleArn. */
  assumed(name: string, signal: AbortSignal): Promise<AwsSessionCredentials>;
  /** What an SDK client should use: assumed role credentials, or undefined for the default chain. */
  forClient(name: string, signal: AbortSignal): Promise<AwsSessionCredentials | undefined>;
  /** The keys themselves: assumed role credentials, or the default chain's (for signing requests the broker forwards). */
  keys(name: string, signal: AbortSignal): Promise<AwsKeys>;
}

/** Keys from the default chain may be long-term: no session token, no expiry. */
export interface AwsKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

export function createAwsCredentialSource(ctx: IdentityContext): AwsCredentialSource {
  const cache = new Map<string, { key: string; creds: AwsSessionCredentials }>();
  const inflight = new Map<string, Promise<AwsSessionCredentials>>();
  /** One client per region whose credential chain (and its cache) serves default-chain entries. */
  const chains = new Map<string, STSClient>();

  const entry = (name: string): AwsIdentity => {
    const e = ctx.entry(name);
    if (!e) throw new Error(`no identity named '${name}' is configured`);
    if (e.type !== 'aws') throw new Error(`identity '${name}' is not of type aws`);
    return e;
  };

  async function exchange(e: AwsIdentity, signal: AbortSignal): Promise<AwsSessionCredentials> {
    const { token } = await ctx.sessions.idToken(e.identity!, { signal });
    const client = new STSClient({
      region: e.region,
      ...(e.endpoints.sts ? { endpoint: e.endpoints.sts } : {}),
      maxAttempts: 2,
    });
    try {
      const out = await client.send(
        new AssumeRoleWithWebIdentityCommand({
          RoleArn: e.roleArn!,
          RoleSessionName: e.sessionName,
          WebIdentityToken: token,
          DurationSeconds: e.durationSeconds,
        }),
        { abortSignal: signalWithTimeout(signal, ctx.timeoutMs) },
      );
      const c = out.Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) throw new Error('STS returned no credentials');
      const creds = { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: new Date(c.Expiration) };
      ctx.audit.record({ type: 'identity.exchanged', identity: e.identity!, provider: 'aws-sts', expiresAt: creds.expiration.toISOString() });
      ctx.logger.info('assumed AWS role with the identity token', { identity: e.identity, aws: e.name, expiresAt: creds.expiration.toISOString() });
      return creds;
    } catch (err) {
      ctx.audit.record({ type: 'identity.failed', identity: e.identity!, step: 'aws-sts', reason: safeReason(err) });
      throw err;
    } finally {
      client.destroy();
    }
  }

  async function assumed(name: string, signal: AbortSignal): Promise<AwsSessionCredentials> {
    const e = entry(name);
    if (!e.identity || !e.roleArn) throw new Error(`identity '${name}' has no identity/roleArn to assume a role with`);
    // Config edits (another role, another duration) must not reuse the old credentials.
    // So do a logout and a new login, in this process or another one (the generation).
    const key = JSON.stringify([e.identity, ctx.sessions.generation(e.identity), e.roleArn, e.durationSeconds, e.region, e.endpoints, e.sessionName]);
    const hit = cache.get(name);
    if (hit && hit.key === key && ctx.now() < hit.creds.expiration.getTime() - ctx.marginMs) return hit.creds;
    let pending = inflight.get(key);
    if (!pending) {
      // Shared by every connection waiting for it, so bound by our timeout, not one caller's signal.
      pending = exchange(e, AbortSignal.timeout(ctx.timeoutMs)).then((creds) => {
        cache.set(name, { key, creds });
        return creds;
      });
      pending.catch(() => {}).finally(() => inflight.delete(key));
      inflight.set(key, pending);
    }
    return raceSignal(pending, signal);
  }

  return {
    entry,
    assumed,
    async forClient(name, signal) {
      const e = entry(name);
      return e.roleArn ? assumed(name, signal) : undefined;
    },
    async keys(name, signal) {
      const e = entry(name);
      if (e.roleArn) return assumed(name, signal);
      // The SDK's own default chain (env, shared files, SSO, container/instance metadata), as its clients resolve it.
      let client = chains.get(e.region);
      if (!client) chains.set(e.region, (client = new STSClient({ region: e.region })));
      const c = await raceSignal(client.config.credentials(), signal);
      return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, ...(c.sessionToken ? { sessionToken: c.sessionToken } : {}), ...(c.expiration ? { expiration: c.expiration } : {}) };
    },
  };
}
