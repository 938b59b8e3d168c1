// Resolves a service's credentials as one group per new connection: ids are grouped by
// provider, each provider is asked once for all of its ids, providers run in parallel.
// Values without an expiry are fetched every time (a rotated file or keychain item is
// picked up by the next connection). Values with an expiry are cached per provider+id
// until expiryMarginMs before they expire, so a connection never gets a value about
// to lapse. Audit events and errors name service, provider and id, never a value
// (a literal's id is its value, so it is shown as a placeholder: see shownId).
import { createHmac, randomBytes } from 'node:crypto';
import type { BrokerEvent } from '../api.js';
import type { AuditSink } from '../audit/types.js';
import type { CredentialSpec } from '../config/types.js';
import { BrokerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ProviderRegistry } from './registry.js';
import { LITERAL_PROVIDER, shownId } from './providers/literal.js';
import { ProviderError, type ResolvedCredentials, type SecretValue } from './types.js';
import { raceSignal } from '../net/race-signal.js';

export interface ResolverOptions {
  registry: ProviderRegistry;
  audit: AuditSink;
  logger: Logger;
  /** Refetch cached values this long before they expire. Default 60 s. */
  expiryMarginMs?: number;
  /** A provider that has not answered after this long fails the resolve. Default 30 s. */
  timeoutMs?: number;
  now?: () => number;
}

export interface ResolveOptions {
  signal: AbortSignal;
  connectionId?: string;
}

export interface Resolver {
  resolve(service: string, creds: Record<string, CredentialSpec>, opts: ResolveOptions): Promise<ResolvedCredentials>;
  /** Drop cached values used by one service (e.g. the target rejected them), or all. */
  invalidate(service?: string): void;
  /** credential.rotated / credential.expiring events, for the API layer; returns unsubscribe. */
  subscribe(listener: (event: RotationEvent) => void): () => void;
}

export type RotationEvent = Extract<BrokerEvent, { type: 'credential.rotated' | 'credential.expiring' }>;

interface CacheEntry {
  value: Buffer;
  expiresAt: Date;
}

type Failed = { provider: string; ids: string[]; failure: ProviderError };
type GroupOutcome =
  | { provider: string; ids: string[]; values: Map<string, SecretValue> }
  | Failed
  | { provider: string; ids: string[]; cancelled: true };

type StopReason = 'caller' | 'timeout' | 'sibling';

const cacheKey = (provider: string, id: string): string => `${provider}\u0000${id}`;

export function createResolver(opts: ResolverOptions): Resolver {
  const { registry, audit, logger } = opts;
  const margin = opts.expiryMarginMs ?? 60_000;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, CacheEntry>();
  const usedBy = new Map<string, Set<string>>();
  // Bumped by invalidate(): a fetch that started before must not repopulate the cache.
  let generation = 0;
  // Rotation: a keyed digest of the last value each service got per provider+id (never
  // the value; the per-process key keeps a memory dump from being a guessing oracle),
  // and one expiring-soon timer per cached value.
  const digestKey = randomBytes(32);
  const lastSeen = new Map<string, string>();
  const expiring = new Map<string, NodeJS.Timeout>();
  const listeners = new Set<(event: RotationEvent) => void>();
  const emit = (event: RotationEvent): void => {
    for (const l of listeners) {
      try {
        l(event);
      } catch (err) {
        logger.warn('credential event listener failed', { reason: (err as Error).message });
      }
    }
  };
  const watchExpiry = (key: string, expiresAt: Date): void => {
    clearTimeout(expiring.get(key));
    const timer = setTimeout(() => {
      expiring.delete(key);
      if (cache.get(key)?.expiresAt !== expiresAt) return;
      const [provider, rawId] = key.split('\u0000') as [string, string];
      const id = shownId(provider, rawId);
      for (const [service, keys] of usedBy) {
        if (!keys.has(key)) continue;
        audit.record({ type: 'credential.expiring', service, provider, id, expiresAt: expiresAt.toISOString() });
        emit({ type: 'credential.expiring', name: service, provider, id, expiresAt: expiresAt.toISOString() });
      }
    }, Math.max(0, expiresAt.getTime() - margin - now()));
    timer.unref();
    expiring.set(key, timer);
  };
  // One event per service and provider whose values differ from what the service got last.
  const noteRotation = (service: string, fetched: Map<string, SecretValue>): void => {
    const changed = new Map<string, string[]>();
    for (const [key, v] of fetched) {
      const [provider, rawId] = key.split('\u0000') as [string, string];
      if (provider === LITERAL_PROVIDER) continue;
      const seenKey = `${service}\u0000${key}`;
      const digest = createHmac('sha256', digestKey).update(v.value).digest('base64');
      const before = lastSeen.get(seenKey);
      lastSeen.set(seenKey, digest);
      if (before !== undefined && before !== digest) changed.set(provider, [...(changed.get(provider) ?? []), shownId(provider, rawId)]);
    }
    for (const [provider, ids] of changed) {
      const id = ids.join(', ');
      audit.record({ type: 'credential.rotated', service, provider, id });
      logger.info('credential rotated', { service, provider, id });
      emit({ type: 'credential.rotated', name: service, provider, id });
    }
  };

  const fresh = (key: string): CacheEntry | undefined => {
    const hit = cache.get(key);
    if (hit && now() < hit.expiresAt.getTime() - margin) return hit;
    if (hit) cache.delete(key);
    return undefined;
  };

  const remember = (service: string, key: string, v: SecretValue): void => {
    if (!v.expiresAt || now() >= v.expiresAt.getTime() - margin) return;
    cache.set(key, { value: Buffer.from(v.value), expiresAt: v.expiresAt });
    watchExpiry(key, v.expiresAt);
    let keys = usedBy.get(service);
    if (!keys) usedBy.set(service, (keys = new Set()));
    keys.add(key);
  };

  async function resolve(
    service: string,
    creds: Record<string, CredentialSpec>,
    { signal, connectionId }: ResolveOptions,
  ): Promise<ResolvedCredentials> {
    const startGeneration = generation;
    const specs = Object.entries(creds);
    const cached = new Map<string, CacheEntry>();
    const wanted = new Map<string, Set<string>>();
    for (const [, { provider, id }] of specs) {
      const key = cacheKey(provider, id);
      const hit = fresh(key);
      // A cache hit also counts as use: credential.expiring is sent to every service using it.
      if (hit && !usedBy.get(service)?.add(key)) usedBy.set(service, new Set([key]));
      if (hit) cached.set(key, hit);
      else if (wanted.has(provider)) wanted.get(provider)!.add(id);
      else wanted.set(provider, new Set([id]));
    }

    const outcomes = await fetchAll(wanted, signal);
    const fetched = new Map<string, SecretValue>();
    for (const o of outcomes) {
      if (!('values' in o)) continue;
      for (const [id, v] of o.values) {
        const key = cacheKey(o.provider, id);
        fetched.set(key, v);
        if (generation === startGeneration) remember(service, key, v);
      }
    }
    const failure = outcomes.find((o): o is Failed => 'failure' in o);
    const complete = outcomes.every((o) => 'values' in o);
    const ctx = connectionId === undefined ? { service } : { service, connectionId };
    auditAll(ctx, specs, fetched, complete ? cached : new Map(), failure);
    if (failure) {
      throw new BrokerError('provider_failed', `service '${service}': ${failure.failure.message}`, { cause: failure.failure });
    }
    if (!complete) throw cancelled(service, signal);
    noteRotation(service, fetched);
    logger.debug('credentials resolved', { ...ctx, fetched: fetched.size, cached: cached.size });
    return assemble(specs, fetched, cached);
  }

  // One event per credential, in config order: fetched (from the provider or the
  // cache), or failed when its provider's failure concerns it.
  function auditAll(
    ctx: { service: string; connectionId?: string },
    specs: [string, CredentialSpec][],
    fetched: Map<string, SecretValue>,
    cached: Map<string, CacheEntry>,
    failure: Failed | undefined,
  ): void {
    for (const [, { provider, id: rawId }] of specs) {
      // A literal is configuration, not a fetch: auditing it would only add noise.
      if (provider === LITERAL_PROVIDER) continue;
      const key = cacheKey(provider, rawId);
      const id = shownId(provider, rawId);
      const got = fetched.get(key) ?? cached.get(key);
      if (got) {
        const expiresAt = got.expiresAt?.toISOString();
        audit.record({ type: 'credential.fetched', ...ctx, provider, id, cached: !fetched.has(key), ...(expiresAt ? { expiresAt } : {}) });
      } else if (failure?.provider === provider && failedIds(failure).includes(id)) {
        const reason = reasonOf(failure.failure);
        audit.record({ type: 'credential.failed', ...ctx, provider, id, reason });
        logger.warn('credential fetch failed', { ...ctx, provider, id, reason });
      }
    }
  }

  // Runs every provider group in parallel under one internal signal, which stops them
  // all on the caller's abort, on the timeout, or when one group fails.
  async function fetchAll(wanted: Map<string, Set<string>>, callerSignal: AbortSignal): Promise<GroupOutcome[]> {
    if (wanted.size === 0) return [];
    const stop = new AbortController();
    let stopReason: StopReason | undefined;
    const halt = (why: StopReason): void => {
      if (stopReason) return;
      stopReason = why;
      stop.abort();
    };
    const onCallerAbort = (): void => halt('caller');
    if (callerSignal.aborted) halt('caller');
    else callerSignal.addEventListener('abort', onCallerAbort, { once: true });
    const timer = setTimeout(() => halt('timeout'), timeoutMs);

    const runGroup = async (provider: string, ids: string[]): Promise<GroupOutcome> => {
      try {
        return { provider, ids, values: await fetchGroup(provider, ids, stop.signal) };
      } catch (err) {
        if (stopReason === 'timeout') {
          return { provider, ids, failure: new ProviderError(provider, shownIds(provider, ids), `timed out after ${timeoutMs} ms`) };
        }
        if (stopReason) return { provider, ids, cancelled: true };
        halt('sibling');
        return { provider, ids, failure: asProviderError(provider, ids, err) };
      }
    };
    try {
      return await Promise.all([...wanted].map(([provider, ids]) => runGroup(provider, [...ids])));
    } finally {
      clearTimeout(timer);
      callerSignal.removeEventListener('abort', onCallerAbort);
    }
  }

  async function fetchGroup(name: string, ids: string[], signal: AbortSignal): Promise<Map<string, SecretValue>> {
    const provider = registry.get(name);
    if (!provider) throw new ProviderError(name, shownIds(name, ids), 'no such provider is configured');
    // Raced against the signal so a provider that ignores it cannot hold the connection.
    const got = await raceSignal(provider.get(ids, { signal }), signal);
    for (const id of ids) {
      const v = got.get(id);
      if (!v || !Buffer.isBuffer(v.value)) throw new ProviderError(name, shownId(name, id), 'the provider returned no value');
    }
    return got;
  }

  return {
    resolve,
    invalidate(service) {
      generation++;
      if (service === undefined) {
        cache.clear();
        usedBy.clear();
        for (const t of expiring.values()) clearTimeout(t);
        expiring.clear();
        return;
      }
      for (const key of usedBy.get(service) ?? []) cache.delete(key);
      usedBy.delete(service);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}

/** The connection's view: a copy per key, so a connector may zero its buffers. */
function assemble(
  specs: [string, CredentialSpec][],
  fetched: Map<string, SecretValue>,
  cached: Map<string, CacheEntry>,
): ResolvedCredentials {
  const values = new Map<string, Buffer>();
  let expiresAt: Date | undefined;
  for (const [name, { provider, id }] of specs) {
    const key = cacheKey(provider, id);
    const got = fetched.get(key) ?? cached.get(key)!;
    values.set(name, Buffer.from(got.value));
    if (got.expiresAt && (!expiresAt || got.expiresAt < expiresAt)) expiresAt = got.expiresAt;
  }
  return {
    values,
    ...(expiresAt ? { expiresAt } : {}),
    text: (key) => values.get(key)?.toString('utf8'),
  };
}


/** Shown ids of the credentials a group failure is about: the one it names, else all. */
function failedIds(o: Failed): string[] {
  const shown = o.ids.map((id) => shownId(o.provider, id));
  return shown.includes(o.failure.id) ? [o.failure.id] : shown;
}

function shownIds(provider: string, ids: string[]): string {
  return [...new Set(ids.map((id) => shownId(provider, id)))].join(', ');
}

// A ProviderError's message is safe by contract. Anything else may carry text we did
// not write, so only its class name is shown; the original stays as the cause.
function asProviderError(provider: string, ids: string[], err: unknown): ProviderError {
  if (err instanceof ProviderError) return err;
  const kind = err instanceof Error ? err.name : typeof err;
  return new ProviderError(provider, shownIds(provider, ids), `unexpected error (${kind})`, { cause: err });
}

function reasonOf(err: ProviderError): string {
  const prefix = `provider '${err.provider}' could not get '${err.id}': `;
  return err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
}

function cancelled(service: string, signal: AbortSignal): BrokerError {
  if (signal.reason instanceof BrokerError) return signal.reason;
  return new BrokerError('provider_failed', `service '${service}': fetching credentials was aborted`);
}
