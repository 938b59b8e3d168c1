// Providers by name. The config parser asks names() which `from:` values are valid;
// the resolver asks get() for the provider of each credential.
import { createEnvProvider } from './providers/env.js';
import { createFileProvider } from './providers/file.js';
import { createKeychainProvider } from './providers/keychain.js';
import { createLiteralProvider } from './providers/literal.js';
import type { Provider } from './types.js';

export interface ProviderRegistry {
  get(name: string): Provider | undefined;
  names(): string[];
}

export function createProviderRegistry(providers: Provider[]): ProviderRegistry {
  const byName = new Map<string, Provider>();
  for (const p of providers) {
    if (byName.has(p.name)) throw new Error(`two credential providers are named '${p.name}'`);
    byName.set(p.name, p);
  }
  return {
    get: (name) => byName.get(name),
    names: () => [...byName.keys()],
  };
}

export interface DefaultProviderOptions {
  /** Environment for the `env` provider; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** The built-in providers: literal, env, file, keychain. */
export function defaultProviders(opts: DefaultProviderOptions = {}): Provider[] {
  return [createLiteralProvider(), createEnvProvider({ env: opts.env }), createFileProvider(), createKeychainProvider()];
}
