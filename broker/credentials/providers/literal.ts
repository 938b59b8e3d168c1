// `literal`: the id is the value. What a plain YAML scalar in `credentials:` becomes.
import { ProviderError, type Provider, type SecretValue } from '../types.js';

export function createLiteralProvider(): Provider {
  const name = 'literal';
  return {
    name,
    async get(ids, { signal }) {
      const out = new Map<string, SecretValue>();
      for (const id of ids) {
        if (signal.aborted) throw new ProviderError(name, id, 'aborted');
        out.set(id, { value: Buffer.from(id, 'utf8') });
      }
      return out;
    },
  };
}
