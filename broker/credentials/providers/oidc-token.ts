// `oidc`: the current token of an OIDC login, for APIs that take the user's own bearer
// token. Id: `NAME#access_token` or `NAME#id_token`, NAME an `identities:` entry of type
// oidc. The value carries the token's expiry, so the resolver hands out a refreshed one
// as the session refreshes; after a logout the provider fails with "log in".
import type { IdentitySessionManager } from '../../identity/sessions.js';
import { safeReason } from '../../identity/context.js';
import { signalWithTimeout } from '../../net/deadline.js';
import { ProviderError, type Provider, type SecretValue } from '../types.js';

const KINDS = ['access_token', 'id_token'] as const;

export function createOidcTokenProvider(options: { sessions: IdentitySessionManager; timeoutMs: number }): Provider {
  const name = 'oidc';
  return {
    name,
    async get(ids, { signal }) {
      const out = new Map<string, SecretValue>();
      for (const id of ids) {
        const [entry, kind, ...rest] = id.split('#');
        if (!entry || !KINDS.includes(kind as (typeof KINDS)[number]) || rest.length > 0) {
          throw new ProviderError(name, id, `the id must have the form NAME#access_token or NAME#id_token`);
        }
        try {
          const limited = signalWithTimeout(signal, options.timeoutMs);
          const t = kind === 'id_token' ? await options.sessions.idToken(entry, { signal: limited }) : await options.sessions.accessToken(entry, { signal: limited });
          out.set(id, { value: Buffer.from(t.token, 'utf8'), expiresAt: t.expiresAt });
        } catch (err) {
          throw new ProviderError(name, id, safeReason(err));
        }
      }
      return out;
    },
  };
}
