// `literal`: the id is the value. What a plain YAML scalar in `credentials:` becomes.
// Because the id is the value, it must never be shown: errors and audit events use
// LITERAL_ID_SHOWN in its place.
import { ProviderError, type Provider, type SecretValue } from '../types.js';

export const LITERAL_PROVIDER = 'literal';
export const LITERAL_ID_SHOWN = '(literal value)';

/** The id as it may appear in errors, logs and audit events. */
export function shownId(provider: string, id: string): string {
  return provider === LITERAL_PROVIDER ? LITERAL_ID_SHOWN : id;
}

export function createLiteralProvider(): Provider {
  const name = LITERAL_PROVIDER;
  return {
    name,
    async get(ids, { signal }) {
      if (signal.aborted) throw new ProviderError(name, LITERAL_ID_SHOWN, 'aborted');
      const out = new Map<string, SecretValue>();
      for (const id of ids) out.set(id, { value: Buffer.from(id, 'utf8') });
      return out;
    },
  };
}
