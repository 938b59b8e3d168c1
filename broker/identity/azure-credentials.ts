// Microsoft Entra access tokens for an `identities:` entry of type azure, against the
// documented v2.0 token endpoint (`{authorityHost}/{tenant}/oauth2/v2.0/token`):
//  - identity: workload identity federation. A `client_credentials` grant whose client
//    assertion (jwt-bearer) is the identity's token; Entra checks it against the app's
//    federated credential (issuer, subject, audience) and the issuer's keys.
//  - no identity: the developer's `az login`. The az CLI keeps an MSAL token cache in
//    ~/.azure/msal_token_cache.json (AZURE_CONFIG_DIR moves it; plain JSON on Linux and
//    macOS): a still-valid access token for the scope is used as is, otherwise the
//    account's refresh token is redeemed with az's own client id. The cache is only
//    read, never written: az stays its owner.
// Why not @azure/identity: its credentials sit on MSAL, which insists on an https
// authority with instance discovery, and AzureCliCredential shells out to `az` rather
// than reading the cache; the two grants are one form POST each.
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { AccessToken, EntryTokenSource } from './access-token.js';
import type { AzureIdentity } from './config.js';
import { safeReason, type IdentityContext } from './context.js';
import { createExpiringCache } from './expiring-cache.js';

/** The Azure CLI's public client id (its refresh tokens are issued to it). */
export const AZ_CLI_CLIENT_ID = '04b07795-8ddb-461a-bbee-02f9e1bf7b46';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

interface CacheCredential {
  credential_type?: string;
  home_account_id?: string;
  environment?: string;
  client_id?: string;
  family_id?: string;
  realm?: string;
  target?: string;
  secret?: string;
  expires_on?: string;
}
interface MsalCache {
  AccessToken?: Record<string, CacheCredential>;
  RefreshToken?: Record<string, CacheCredential>;
  Account?: Record<string, { home_account_id?: string; realm?: string; username?: string }>;
}

export function createAzureTokenSource(ctx: IdentityContext, opts: { env?: NodeJS.ProcessEnv } = {}): EntryTokenSource {
  const env = opts.env ?? process.env;
  const cache = createExpiringCache<AccessToken>({ marginMs: ctx.marginMs, now: ctx.now });
  const configDir = () => env.AZURE_CONFIG_DIR || join(env.HOME || homedir(), '.azure');

  const entry = (name: string): AzureIdentity => {
    const e = ctx.entry(name);
    if (!e) throw new Error(`no identity named '${name}' is configured`);
    if (e.type !== 'azure') throw new Error(`identity '${name}' is not of type azure`);
    return e;
  };

  async function tokenEndpoint(e: AzureIdentity, tenant: string, form: Record<string, string>, signal: AbortSignal): Promise<AccessToken> {
    const res = await fetch(`${e.authorityHost}/${encodeURIComponent(tenant)}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(form),
      signal,
    });
    const body = (await res.json().catch(() => ({}))) as { access_token?: string; expires_in?: number | string; error?: string; error_description?: string };
    if (!res.ok || !body.access_token) {
      // Entra's descriptions start with the AADSTS code and say what failed; trace ids follow on later lines.
      const why = body.error ? `${body.error}: ${String(body.error_description ?? '').split(/\r?\n/)[0]}` : `HTTP ${res.status}`;
      throw new Error(`Microsoft Entra refused the token request (${why})`);
    }
    return { token: body.access_token, expiresAt: new Date(ctx.now() + Number(body.expires_in ?? 0) * 1000) };
  }

  async function federated(e: AzureIdentity, signal: AbortSignal): Promise<AccessToken> {
    const { token: assertion } = await ctx.sessions.idToken(e.identity!, { signal });
    return tokenEndpoint(e, e.tenantId!, { grant_type: 'client_credentials', client_id: e.clientId!, scope: e.scope, client_assertion_type: JWT_BEARER, client_assertion: assertion }, signal);
  }

  /** The az CLI's signed-in account: its default subscription's user and tenant (azureProfile.json), else the only cached account. */
  async function azAccount(msal: MsalCache): Promise<{ homeAccountId: string; tenant: string }> {
    const accounts = Object.values(msal.Account ?? {});
    let user: string | undefined;
    let tenant: string | undefined;
    try {
      // az writes this file with a UTF-8 byte order mark.
      const profile = JSON.parse((await readFile(join(configDir(), 'azureProfile.json'), 'utf8')).replace(/^\uFEFF/, '')) as { subscriptions?: { isDefault?: boolean; tenantId?: string; user?: { name?: string } }[] };
      const sub = profile.subscriptions?.find((s) => s.isDefault) ?? profile.subscriptions?.[0];
      user = sub?.user?.name;
      tenant = sub?.tenantId;
    } catch {
      // no profile: fall back to the cache alone
    }
    const matching = accounts.filter((a) => (user ? a.username?.toLowerCase() === user.toLowerCase() : true));
    const account = matching[0];
    if (!account?.home_account_id) throw new Error(`no signed-in account in the az CLI token cache: run \`az login\``);
    if (!user && new Set(accounts.map((a) => a.home_account_id)).size > 1) throw new Error('several accounts in the az CLI token cache and no default subscription: run `az account set`');
    return { homeAccountId: account.home_account_id, tenant: tenant ?? account.realm ?? 'organizations' };
  }

  async function fromAzLogin(e: AzureIdentity, path: string, signal: AbortSignal): Promise<AccessToken> {
    let msal: MsalCache;
    try {
      msal = JSON.parse(await readFile(path, 'utf8')) as MsalCache;
    } catch {
      throw new Error(`the az CLI token cache ${path} is not readable JSON (an encrypted cache is not supported)`);
    }
    const { homeAccountId, tenant: defaultTenant } = await azAccount(msal);
    const tenant = e.tenantId ?? defaultTenant;
    const scopeResource = e.scope.replace(/\/\.default$/, '');
    const valid = Object.values(msal.AccessToken ?? {}).find(
      (t) =>
        t.home_account_id === homeAccountId &&
        t.client_id === AZ_CLI_CLIENT_ID &&
        t.realm === tenant &&
        (t.target ?? '').split(' ').some((s) => s === e.scope || s.startsWith(`${scopeResource}/`)) &&
        Number(t.expires_on) * 1000 > ctx.now() + ctx.marginMs,
    );
    if (valid?.secret) return { token: valid.secret, expiresAt: new Date(Number(valid.expires_on) * 1000) };
    const refresh = Object.values(msal.RefreshToken ?? {}).find((t) => t.home_account_id === homeAccountId && (t.client_id === AZ_CLI_CLIENT_ID || t.family_id === '1') && t.secret);
    if (!refresh) throw new Error('the az CLI token cache holds no refresh token for the signed-in account: run `az login`');
    return tokenEndpoint(e, tenant, { grant_type: 'refresh_token', client_id: AZ_CLI_CLIENT_ID, refresh_token: refresh.secret!, scope: `${e.scope} offline_access openid profile` }, signal);
  }

  async function fetchToken(e: AzureIdentity, path: string | undefined): Promise<AccessToken> {
    const source = e.identity ?? 'az-login';
    const signal = AbortSignal.timeout(ctx.timeoutMs);
    try {
      const t = e.identity ? await federated(e, signal) : await fromAzLogin(e, path!, signal);
      ctx.audit.record({ type: 'identity.exchanged', identity: source, provider: 'azure', expiresAt: t.expiresAt.toISOString() });
      ctx.logger.info('got a Microsoft Entra access token', { identity: source, azure: e.name, expiresAt: t.expiresAt.toISOString() });
      return t;
    } catch (err) {
      ctx.audit.record({ type: 'identity.failed', identity: source, step: 'azure', reason: safeReason(err) });
      throw err;
    }
  }

  return {
    async token(name, signal) {
      const e = entry(name);
      let path: string | undefined;
      let version: string | number;
      if (e.identity) version = ctx.sessions.generation(e.identity);
      else {
        path = join(configDir(), 'msal_token_cache.json');
        try {
          const s = await stat(path);
          version = `${s.mtimeMs}:${s.size}`; // a new `az login` rewrites it
        } catch {
          throw new Error(`no az CLI token cache at ${path}: run \`az login\` (or name an identity)`);
        }
      }
      const key = JSON.stringify([e.identity, version, e.tenantId, e.clientId, e.scope, e.authorityHost]);
      return cache.get(name, key, () => fetchToken(e, path), signal);
    },
  };
}
