// Resolves a service's credentials as one group per new connection: ids are grouped by
// provider, each provider is asked once for all of its ids, providers run in parallel.
// Literals (plain YAML values) are configuration: taken as they are, no provider call.
// Values with an expiry come from the cache (value-cache.ts) until expiryMarginMs
// before they expire; a changed value is audited as a rotation (rotation-detector.ts).
// Audit events and errors name service, provider and id, never a value (a literal's id
// is its value, so it is shown as a placeholder: see shownId).
import type { AuditSink } from '../audit/types.js';
import type { CredentialSpec } from '../config/types.js';
import { BrokerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ProviderRegistry } from './registry.js';
import { LITERAL_PROVIDER, shownId } from './providers/literal.js';
import { createRotationDetector } from './rotation-detector.js';
import { cacheKey, createValueCache, type CacheEntry } from './value-cache.js';
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
  /** Drop cached values used by one service (the target rejected them: the next connection fetches afresh), or all. */
  invalidate(service?: string): void;
}

type Failed = { provider: string; ids: string[]; failure: ProviderError };
type GroupOutcome =
  | { provider: string; ids: string[]; values: Map<string, SecretValue> }
  | Failed
  | { provider: string; ids: string[]; cancelled: true };

type StopReason = 'caller' | 'timeout' | 'sibling';

export function createResolver(opts: ResolverOptions): Resolver {
  const { registry, audit, logger } = opts;
  const margin = opts.expiryMarginMs ?? 60_000;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const now = opts.now ?? Date.now;
  const cache = createValueCache({ audit, margin, now });
  const rotations = createRotationDetector({ audit, logger });

  async function resolve(
    service: string,
    creds: Record<string, CredentialSpec>,
    { signal, connectionId }: ResolveOptions,
  ): Promise<ResolvedCredentials> {
    const startGeneration = cache.generation();
    const specs = Object.entries(creds);
    const cached = new Map<string, CacheEntry>();
    const wanted = new Map<string, Set<string>>();
    let literals = false;
    for (const [, { provider, id }] of specs) {
      // A literal is configuration: its value is its id (assemble), no provider is asked.
      if (provider === LITERAL_PROVIDER) {
        literals = true;
        continue;
      }
      const key = cacheKey(provider, id);
      const hit = cache.get(service, key);
      if (hit) cached.set(key, hit);
      else if (wanted.has(provider)) wanted.get(provider)!.add(id);
      else wanted.set(provider, new Set([id]));
    }

    if (literals && signal.aborted) throw cancelled(service, signal);
    const outcomes = await fetchAll(wanted, signal);
    const fetched = new Map<string, SecretValue>();
    for (const o of outcomes) {
      if (!('values' in o)) continue;
      for (const [id, v] of o.values) {
        const key = cacheKey(o.provider, id);
        fetched.set(key, v);
        cache.remember(service, key, v, startGeneration);
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
    rotations.note(service, fetched);
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
    invalidate: cache.invalidate,
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
    if (provider === LITERAL_PROVIDER) {
      values.set(name, Buffer.from(id, 'utf8'));
      continue;
    }
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
