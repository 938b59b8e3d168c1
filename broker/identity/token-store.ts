// Identity tokens (refresh, ID, access) live only in the OS keychain, one item per
// identity, as a small JSON document. Nothing is written to files. The item records
// the issuer and client id it belongs to, so tokens from an edited identity are ignored.
import { AsyncEntry } from '@napi-rs/keyring';

export interface StoredTokens {
  issuer: string;
  clientId: string;
  idToken: string;
  refreshToken?: string;
  accessToken?: string;
  /** ISO 8601: when the ID token (what the broker exchanges) expires. */
  expiresAt: string;
}

export interface TokenStore {
  load(identity: string): Promise<StoredTokens | undefined>;
  save(identity: string, tokens: StoredTokens): Promise<void>;
  /** True when an item was deleted. */
  delete(identity: string): Promise<boolean>;
}

/** The keychain service name the broker's identity items are stored under. */
export const TOKEN_SERVICE = 'secretless-desktop/identity';

const TIMEOUT_MS = 15_000;

export function createKeychainTokenStore(options: { service?: string } = {}): TokenStore {
  const service = options.service ?? TOKEN_SERVICE;
  const entry = (identity: string) => new AsyncEntry(service, identity, { linux: { store: 'secret-service' } });
  return {
    async load(identity) {
      const text = await bounded((signal) => entry(identity).getPassword(signal), 'read');
      if (!text) return undefined;
      try {
        const parsed = JSON.parse(text) as StoredTokens;
        return typeof parsed.idToken === 'string' && typeof parsed.expiresAt === 'string' ? parsed : undefined;
      } catch {
        return undefined;
      }
    },
    async save(identity, tokens) {
      await bounded((signal) => entry(identity).setPassword(JSON.stringify(tokens), signal), 'write');
    },
    async delete(identity) {
      return bounded((signal) => entry(identity).deleteCredential(signal), 'delete');
    },
  };
}

/** For tests and for machines without a keychain (tokens then live only in memory). */
export function createMemoryTokenStore(): TokenStore & { items: Map<string, StoredTokens> } {
  const items = new Map<string, StoredTokens>();
  return {
    items,
    load: async (identity) => items.get(identity),
    save: async (identity, tokens) => void items.set(identity, tokens),
    delete: async (identity) => items.delete(identity),
  };
}

async function bounded<T>(work: (signal: AbortSignal) => Promise<T>, what: string): Promise<T> {
  const signal = AbortSignal.timeout(TIMEOUT_MS);
  try {
    return await work(signal);
  } catch (err) {
    // The binding's messages do not contain the secret; keep the first line only.
    const reason = signal.aborted ? `no answer within ${TIMEOUT_MS} ms` : String((err as Error)?.message ?? err).split('\n')[0];
    throw new Error(`the OS keychain ${what} failed: ${reason}`);
  }
}
