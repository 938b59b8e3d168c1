// What the gcp and azure providers share: the id is the name of an `identities:` entry,
// the value its current access token, carrying the token's expiry so the resolver
// reuses it until a margin before then and fetches a fresh one after.
import type { EntryTokenSource } from '../../identity/access-token.js';
import { safeReason } from '../../identity/context.js';
import { signalWithTimeout } from '../../net/deadline.js';
import { ProviderError, type Provider, type SecretValue } from '../types.js';

export function createEntryTokenProvider(name: string, options: { source: EntryTokenSource; timeoutMs: number }): Provider {
  return {
    name,
    async get(ids, { signal }) {
      const out = new Map<string, SecretValue>();
      await Promise.all(
        ids.map(async (id) => {
          if (!/^[A-Za-z0-9_.-]+$/.test(id)) throw new ProviderError(name, id, `the id must be the name of a ${name} entry of \`identities:\``);
          try {
            const t = await options.source.token(id, signalWithTimeout(signal, options.timeoutMs));
            out.set(id, { value: Buffer.from(t.token, 'utf8'), expiresAt: t.expiresAt });
          } catch (err) {
            throw new ProviderError(name, id, safeReason(err));
          }
        }),
      );
      return out;
    },
  };
}
