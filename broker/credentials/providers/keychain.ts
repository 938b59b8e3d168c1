// `keychain`: the OS credential store (macOS Keychain, Windows Credential Manager,
// Secret Service on Linux) through @napi-rs/keyring. The id is `service#account`, as
// in Secretless; it is split at the first '#', so an account may contain '#'.
//
// On Linux the entry is pinned to the Secret Service: the binding would otherwise fall
// back silently to the kernel keyring, where nothing the user stored with Seahorse or
// secret-tool can be found, and "no item" would hide "no keychain".
//
// Hang protection: reads use AsyncEntry, which runs on the libuv thread pool, and every
// read races a timeout and the caller's signal. A read we gave up on still holds a pool
// thread until D-Bus answers, so once a few are outstanding we fail fast instead of
// starving the pool. Known limit: the AsyncEntry constructor connects to the bus
// synchronously; a bus that accepts the socket but never answers would block there.
import { AsyncEntry } from '@napi-rs/keyring';
import { ProviderError, type Provider, type SecretValue } from '../types.js';
import { CodedError } from '../../errors.js';

/** The slice of the keyring binding we use; tests substitute a fake. */
export interface KeychainBackend {
  /** Throws when the OS keychain is unavailable. */
  open(service: string, account: string): KeychainItem;
}
export interface KeychainItem {
  /** Resolves null when there is no such item. */
  getSecret(signal?: AbortSignal): Promise<readonly number[] | Uint8Array | null>;
}

export interface KeychainProviderOptions {
  backend?: KeychainBackend;
  /** Per-read limit; a hung D-Bus or an unanswered unlock prompt fails after this. */
  timeoutMs?: number;
  /** Abandoned reads allowed before further reads fail fast. */
  maxAbandoned?: number;
}

export const nativeKeychain: KeychainBackend = {
  open: (service, account) => new AsyncEntry(service, account, { linux: { store: 'secret-service' } }),
};

export function parseKeychainId(id: string): { service: string; account: string } | undefined {
  const at = id.indexOf('#');
  if (at <= 0 || at === id.length - 1) return undefined;
  return { service: id.slice(0, at), account: id.slice(at + 1) };
}

export function createKeychainProvider(options: KeychainProviderOptions = {}): Provider {
  const name = 'keychain';
  const backend = options.backend ?? nativeKeychain;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxAbandoned = options.maxAbandoned ?? 2;
  let abandoned = 0;

  const readOne = async (id: string, signal: AbortSignal): Promise<SecretValue> => {
    const fail = (reason: string, cause?: unknown) => new ProviderError(name, id, reason, { cause });
    if (signal.aborted) throw fail('aborted');
    const parsed = parseKeychainId(id);
    if (!parsed) throw fail("the id must have the form 'service#account'");
    if (abandoned >= maxAbandoned) {
      throw fail(`the OS keychain is not responding (${abandoned} earlier reads have not returned)`);
    }
    let item: KeychainItem;
    try {
      item = backend.open(parsed.service, parsed.account);
    } catch (err) {
      throw fail(`the OS keychain is not available: ${reasonOf(err)}`, err);
    }
    const read = item.getSecret(signal);
    let secret: readonly number[] | Uint8Array | null;
    try {
      secret = await bounded(read, signal, timeoutMs, () => {
        abandoned++;
        read.then(release, release);
      });
    } catch (err) {
      if (err instanceof Abandoned) throw fail(err.message);
      throw fail(`the OS keychain could not be read: ${reasonOf(err)}`, err);
    }
    if (secret === null) {
      // secret-tool users: the binding looks items up by the attributes service and username.
      throw fail(`no keychain item for service '${parsed.service}' account '${parsed.account}' (secret-tool attributes: service ${parsed.service} username ${parsed.account})`);
    }
    return { value: Buffer.from(secret) };
  };
  const release = (): void => {
    abandoned--;
  };

  return {
    name,
    async get(ids, { signal }) {
      const values = await Promise.all(ids.map((id) => readOne(id, signal)));
      return new Map(ids.map((id, i) => [id, values[i]!]));
    },
  };
}

class Abandoned extends CodedError {
  constructor(message: string) {
    super('provider_failed', message);
  }
}

/** Settles with `work`, or rejects on abort/timeout (calling onAbandon once). */
function bounded<T>(work: Promise<T>, signal: AbortSignal, timeoutMs: number, onAbandon: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const finish = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    const giveUp = (reason: string): void => {
      finish();
      onAbandon();
      reject(new Abandoned(reason));
    };
    const onAbort = (): void => giveUp('aborted');
    const timer = setTimeout(() => giveUp(`the OS keychain did not answer within ${timeoutMs} ms`), timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        finish();
        resolve(v);
      },
      (err) => {
        finish();
        reject(err);
      },
    );
  });
}

function reasonOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0]!.trim() || 'unknown error';
}
