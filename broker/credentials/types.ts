// The provider contract and what the resolver hands to connectors.
import { CodedError } from '../errors.js';

export interface SecretValue {
  /** Held as a Buffer so it can be zeroed and is never interpolated by accident. */
  value: Buffer;
  /** When the provider knows the value stops being valid (leases, STS, tokens). */
  expiresAt?: Date;
}

export interface ProviderGetOptions {
  signal: AbortSignal;
}

export interface Provider {
  readonly name: string;
  /** Fetch all ids in one go. Missing ids must throw a ProviderError naming the id. */
  get(ids: string[], options: ProviderGetOptions): Promise<Map<string, SecretValue>>;
}

/** A provider failure. The message names provider and id, never a value. */
export class ProviderError extends CodedError {
  readonly provider: string;
  readonly id: string;
  constructor(provider: string, id: string, reason: string, options?: { cause?: unknown }) {
    super('provider_failed', `provider '${provider}' could not get '${id}': ${reason}`, options);
    this.provider = provider;
    this.id = id;
  }
}

/** A service's credentials, resolved as one group for one connection. */
export interface ResolvedCredentials {
  /** Credential key (host, password, ...) to value. */
  values: Map<string, Buffer>;
  /** Earliest expiry among the values, if any carried one. */
  expiresAt?: Date;
  /** Convenience: a value as UTF-8 text, or undefined when absent. */
  text(key: string): string | undefined;
}
