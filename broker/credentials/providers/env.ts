// `env`: the id names an environment variable of the broker process. Read on every
// get() so a changed process.env (tests, embedding) is seen; an empty variable is a
// valid (empty) value, as in Secretless, but an unset one is an error.
import { ProviderError, type Provider, type SecretValue } from '../types.js';

export interface EnvProviderOptions {
  /** Defaults to process.env; tests inject their own. */
  env?: NodeJS.ProcessEnv;
}

export function createEnvProvider(options: EnvProviderOptions = {}): Provider {
  const name = 'env';
  const env = options.env ?? process.env;
  return {
    name,
    async get(ids, { signal }) {
      const out = new Map<string, SecretValue>();
      for (const id of ids) {
        if (signal.aborted) throw new ProviderError(name, id, 'aborted');
        const value = env[id];
        if (value === undefined) throw new ProviderError(name, id, `environment variable '${id}' is not set`);
        out.set(id, { value: Buffer.from(value, 'utf8') });
      }
      return out;
    },
  };
}
