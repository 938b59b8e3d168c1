// The authentication plugins the broker answers as a MySQL/MariaDB client, by name.
import { BrokerError } from '../../errors.js';
import { cachingSha2Mechanism } from './auth-caching-sha2.js';
import { clearPasswordMechanism } from './auth-clear-password.js';
import { ed25519Mechanism } from './auth-ed25519.js';
import type { AuthMechanism } from './auth-mechanism.js';
import { nativeMechanism } from './auth-native.js';

export const AUTH_MECHANISMS: ReadonlyMap<string, AuthMechanism> = new Map([nativeMechanism, cachingSha2Mechanism, ed25519Mechanism, clearPasswordMechanism].map((m) => [m.plugin, m]));

/** What the handshake response answers with: the greeting's plugin when it can, else native (the server then switches). */
export function greetingMechanism(plugin: string | undefined): AuthMechanism {
  const m = plugin === undefined ? undefined : AUTH_MECHANISMS.get(plugin);
  return m?.answersGreeting ? m : nativeMechanism;
}

/** The plugin an auth switch request asks for. */
export function switchMechanism(plugin: string): AuthMechanism {
  const m = AUTH_MECHANISMS.get(plugin);
  if (!m)
    throw new BrokerError(
      'unsupported_auth',
      `the target asked for ${plugin} authentication, which the broker does not support (supported: ${[...AUTH_MECHANISMS.keys()].join(', ')})`,
    );
  return m;
}
