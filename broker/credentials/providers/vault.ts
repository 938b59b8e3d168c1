// `vault`: secrets from HashiCorp Vault over its HTTP API. Id: `VAULT:PATH#FIELD`,
// VAULT naming an `identities:` entry of type vault (address and auth method).
//   KV v1   `vault:secret/app#password`          data.password
//   KV v2   `vault:secret/data/app#password`     data.data.password (the API path, with data/)
//   dynamic `vault:database/creds/app#username`  a lease: username and password
// A path whose answer carries a lease (dynamic secrets) is read ONCE per group: every
// field of one lease is served from the same answer, never mixed from two reads. The
// lease is kept and reused; when the resolver asks again (its cached copy reached the
// expiry margin) the lease is renewed, and when Vault refuses or caps the renewal
// below minLeaseTtlSeconds, a fresh lease (new username and password) is read.
// Paths without a lease carry no expiry, so each connection reads the current value.
import { safeReason, type IdentityContext } from '../../identity/context.js';
import { raceSignal } from '../../net/race-signal.js';
import type { VaultIdentity } from '../../identity/config.js';
import { ProviderError, type Provider, type SecretValue } from '../types.js';
import { createVaultClient, sessionGeneration, type VaultClient, type VaultResponse } from './vault/client.js';

interface Lease {
  leaseId: string;
  renewable: boolean;
  /** The TTL Vault granted at first; renewals ask for as much again. */
  duration: number;
  data: Record<string, unknown>;
  expiresAt: number;
}

export function parseVaultId(id: string): { entry: string; path: string; field: string } | undefined {
  const m = /^([^:/]+):([^#]+)#(.+)$/.exec(id);
  return m ? { entry: m[1]!, path: m[2]!.replace(/^\/+|\/+$/g, ''), field: m[3]! } : undefined;
}

export function createVaultProvider(ctx: IdentityContext, client: VaultClient = createVaultClient(ctx)): Provider {
  const name = 'vault';
  const leases = new Map<string, Lease>();
  const inflight = new Map<string, Promise<{ data: Record<string, unknown>; expiresAt?: number }>>();

  const entryOf = (entryName: string): VaultIdentity => {
    const e = ctx.entry(entryName);
    if (!e) throw new Error(`no identity named '${entryName}' is configured`);
    if (e.type !== 'vault') throw new Error(`identity '${entryName}' is not of type vault`);
    return e;
  };

  function fromResponse(key: string, res: VaultResponse): { data: Record<string, unknown>; expiresAt?: number } {
    const data = (res.data ?? {}) as Record<string, unknown>;
    if (res.lease_id) {
      const lease: Lease = { leaseId: res.lease_id, renewable: !!res.renewable, duration: res.lease_duration ?? 0, data, expiresAt: ctx.now() + (res.lease_duration ?? 0) * 1000 };
      leases.set(key, lease);
      return { data, expiresAt: lease.expiresAt };
    }
    // KV v2 wraps the secret: { data: { data: {...}, metadata: {...} } }.
    const inner = data.data;
    if (inner && typeof inner === 'object' && data.metadata && typeof data.metadata === 'object') return { data: inner as Record<string, unknown> };
    return { data };
  }

  async function readPath(e: VaultIdentity, path: string, signal: AbortSignal): Promise<{ data: Record<string, unknown>; expiresAt?: number }> {
    // A lease read with a JWT login is not reused once that identity logged out or in again.
    const key = `${e.name}\u0000${path}\u0000${sessionGeneration(ctx, e)}`;
    const minTtl = e.minLeaseTtlSeconds * 1000;
    const held = leases.get(key);
    if (held && ctx.now() < held.expiresAt - minTtl) return { data: held.data, expiresAt: held.expiresAt };
    if (held && held.renewable && ctx.now() < held.expiresAt) {
      try {
        const res = await client.renew(e, held.leaseId, Math.max(1, held.duration), signal);
        const ttl = (res.lease_duration ?? 0) * 1000;
        if (res.lease_id === held.leaseId && ttl >= minTtl) {
          held.expiresAt = ctx.now() + ttl;
          ctx.logger.debug('vault lease renewed', { vault: e.name, path, ttlSeconds: res.lease_duration });
          return { data: held.data, expiresAt: held.expiresAt };
        }
        ctx.logger.info('vault lease renewal capped below the minimum; reading a fresh lease', { vault: e.name, path, ttlSeconds: res.lease_duration ?? 0 });
      } catch (err) {
        ctx.logger.info('vault lease renewal refused; reading a fresh lease', { vault: e.name, path, reason: safeReason(err) });
      }
    }
    leases.delete(key);
    return fromResponse(key, await client.read(e, path, signal));
  }

  // One read per entry+path at a time, shared by concurrent connections.
  function shared(e: VaultIdentity, path: string, signal: AbortSignal) {
    const key = `${e.name}\u0000${path}`;
    let p = inflight.get(key);
    if (!p) {
      // Shared by every connection waiting for it, so bound by our timeout, not one caller's signal.
      p = readPath(e, path, AbortSignal.timeout(ctx.timeoutMs));
      p.catch(() => {}).finally(() => inflight.delete(key));
      inflight.set(key, p);
    }
    return raceSignal(p, signal);
  }

  return {
    name,
    async get(ids, { signal }) {
      const groups = new Map<string, { entry: string; path: string; ids: string[] }>();
      for (const id of ids) {
        const p = parseVaultId(id);
        if (!p) throw new ProviderError(name, id, 'the id must have the form VAULT:PATH#FIELD');
        const key = `${p.entry}\u0000${p.path}`;
        const g = groups.get(key) ?? { entry: p.entry, path: p.path, ids: [] };
        g.ids.push(id);
        groups.set(key, g);
      }
      const out = new Map<string, SecretValue>();
      await Promise.all(
        [...groups.values()].map(async (g) => {
          let got: { data: Record<string, unknown>; expiresAt?: number };
          try {
            got = await shared(entryOf(g.entry), g.path, signal);
          } catch (err) {
            throw new ProviderError(name, g.ids.join(', '), safeReason(err));
          }
          for (const id of g.ids) {
            const field = parseVaultId(id)!.field;
            const v = got.data[field];
            if (v === undefined || v === null || typeof v === 'object') throw new ProviderError(name, id, `the secret at '${g.path}' has no text or number field '${field}'`);
            out.set(id, { value: Buffer.from(String(v), 'utf8'), ...(got.expiresAt !== undefined ? { expiresAt: new Date(got.expiresAt) } : {}) });
          }
        }),
      );
      return out;
    },
  };
}
