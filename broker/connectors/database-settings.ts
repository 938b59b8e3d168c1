// The `config:` settings and literal checks the database connectors (pg, mysql) share.
import { count, databaseLiteralChecks, defineSettings, durationMs, flag, looseBooleanSetting, optionalPath, type SettingsOf } from '../config/setting-checks.js';
import { sshTunnelSetting } from '../ssh/db-tunnel.js';
import { SSL_MODES } from '../tls/backend-tls.js';

/** Enough for a pool opening all its connections at once; small next to a server's slots. */
export const DEFAULT_MAX_CONCURRENT_LOGINS = 64;

const definition = {
  connectTimeoutMs: durationMs(10_000),
  authTimeoutMs: durationMs(30_000),
  clientTls: flag(looseBooleanSetting),
  clientTlsCert: optionalPath(),
  clientTlsKey: optionalPath(),
  sshTunnel: sshTunnelSetting,
  // Target logins in progress at once (credential fetch, dial, authentication); above it
  // a client gets "too many connections" instead of another target connection.
  maxConcurrentLogins: count(DEFAULT_MAX_CONCURRENT_LOGINS),
};

export type DatabaseSettings = SettingsOf<typeof definition>;

export const databaseSettings = { ...defineSettings(definition), checkLiteral: databaseLiteralChecks(SSL_MODES) };
