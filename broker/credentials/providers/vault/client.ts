// A small HashiCorp Vault HTTP API client: log in (token, AppRole, JWT with an OIDC
// session's ID token), read a path, renew a lease. The Vault token is held in memory
// only and reused until a margin before its TTL runs out; a 403 drops it so the next
// call logs in again. Errors carry Vault's own error strings and the HTTP status.
import type { VaultIdentity } from '../../../identity/config.js';
import type { IdentityContext } from '../../../identity/context.js';
import { signalWithTimeout } from '../../../net/deadline.js';
import { CodedError } from '../../../errors.js';

export interface VaultResponse {
  lease_id?: string;
  lease_duration?: number;
  renewable?: boolean;
  data?: Record<string, unknown> | null;
  auth?: { client_token: string; lease_duration: number; renewable: boolean } | null;
  warnings?: string[] | null;
}

export class VaultError extends CodedError {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super('provider_failed', message);
  }
}

export interface VaultClient {
  read(entry: VaultIdentity, path: string, signal: AbortSignal): Promise<VaultResponse>;
  renew(entry: VaultIdentity, leaseId: string, increment: number, signal: AbortSignal): Promise<VaultResponse>;
}

export function createVaultClient(ctx: IdentityContext): VaultClient {
  const tokens = new Map<string, { key: string; token: string; expiresAt: number }>();

  async function call(entry: VaultIdentity, method: string, path: string, body: unknown, token: string | undefined, signal: AbortSignal): Promise<VaultResponse> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers['x-vault-token'] = token;
    if (entry.namespace) headers['x-vault-namespace'] = entry.namespace;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${entry.address}/v1/${path.replace(/^\/+/, '')}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: signalWithTimeout(signal, ctx.timeoutMs),
      redirect: 'error',
    });
    const text = await res.text();
    let json: (VaultResponse & { errors?: string[] }) | undefined;
    try {
      json = text ? (JSON.parse(text) as VaultResponse & { errors?: string[] }) : {};
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const errors = Array.isArray(json?.errors) && json!.errors.length > 0 ? json!.errors.join('; ') : res.statusText;
      throw new VaultError(`Vault answered ${res.status}: ${errors.split('\n')[0]!.slice(0, 200)}`, res.status);
    }
    if (!json) throw new VaultError(`Vault answered ${res.status} with a body that is not JSON`, res.status);
    return json;
  }

  async function login(entry: VaultIdentity, signal: AbortSignal): Promise<{ token: string; expiresAt: number }> {
    const auth = entry.auth;
    if (auth.method === 'token') {
      const token = (await ctx.readSecret(auth.token, signal)).toString('utf8').trim();
      return { token, expiresAt: Number.POSITIVE_INFINITY };
    }
    let res: VaultResponse;
    if (auth.method === 'approle') {
      const secretId = (await ctx.readSecret(auth.secretId, signal)).toString('utf8').trim();
      res = await call(entry, 'POST', `auth/${auth.mount}/login`, { role_id: auth.roleId, secret_id: secretId }, undefined, signal);
    } else {
      const { token: jwt } = await ctx.sessions.idToken(auth.identity, { signal });
      try {
        res = await call(entry, 'POST', `auth/${auth.mount}/login`, { role: auth.role, jwt }, undefined, signal);
      } catch (err) {
        ctx.audit.record({ type: 'identity.failed', identity: auth.identity, step: 'vault', reason: (err as Error).message });
        throw err;
      }
    }
    if (!res.auth?.client_token) throw new VaultError('Vault login returned no token', 200);
    const ttlMs = res.auth.lease_duration > 0 ? res.auth.lease_duration * 1000 : Number.POSITIVE_INFINITY;
    const expiresAt = ctx.now() + ttlMs;
    if (auth.method === 'jwt') {
      ctx.audit.record({ type: 'identity.exchanged', identity: auth.identity, provider: 'vault', ...(Number.isFinite(expiresAt) ? { expiresAt: new Date(expiresAt).toISOString() } : {}) });
    }
    ctx.logger.info('logged in to Vault', { vault: entry.name, method: auth.method, ttlSeconds: res.auth.lease_duration });
    return { token: res.auth.client_token, expiresAt };
  }

  async function token(entry: VaultIdentity, signal: AbortSignal): Promise<string> {
    // A JWT login's token belongs to the identity session it came from (generation).
    const key = JSON.stringify([entry.address, entry.namespace, entry.auth, sessionGeneration(ctx, entry)]);
    const hit = tokens.get(entry.name);
    // A static token is re-read every time, so an edited keychain item takes effect.
    if (hit && hit.key === key && ctx.now() < hit.expiresAt - ctx.marginMs) return hit.token;
    const got = await login(entry, signal);
    if (entry.auth.method !== 'token') tokens.set(entry.name, { key, ...got });
    return got.token;
  }

  async function authed(entry: VaultIdentity, method: string, path: string, body: unknown, signal: AbortSignal): Promise<VaultResponse> {
    const t = await token(entry, signal);
    try {
      return await call(entry, method, path, body, t, signal);
    } catch (err) {
      // An expired or revoked token: log in once more, then give up.
      if (!(err instanceof VaultError) || err.status !== 403 || entry.auth.method === 'token') throw err;
      tokens.delete(entry.name);
      return call(entry, method, path, body, await token(entry, signal), signal);
    }
  }

  return {
    read: (entry, path, signal) => authed(entry, 'GET', path, undefined, signal),
    renew: (entry, leaseId, increment, signal) => authed(entry, 'PUT', 'sys/leases/renew', { lease_id: leaseId, increment }, signal),
  };
}

/** The login generation of the identity a JWT-auth entry uses; 0 for other methods. */
export function sessionGeneration(ctx: IdentityContext, entry: VaultIdentity): number {
  return entry.auth.method === 'jwt' ? ctx.sessions.generation(entry.auth.identity) : 0;
}
