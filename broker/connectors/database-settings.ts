// The `config:` settings and literal checks the database connectors (pg, mysql) share.
import { databaseLiteralChecks, defineSettings, durationMs, flag, looseBooleanSetting, optionalPath, type SettingsOf } from '../config/setting-checks.js';
import { sshTunnelSetting } from '../ssh/db-tunnel.js';
import { SSL_MODES } from '../tls/backend-tls.js';

const definition = {
  connectTimeoutMs: durationMs(10_000),
  authTimeoutMs: durationMs(30_000),
  clientTls: flag(looseBooleanSetting),
  clientTlsCert: optionalPath(),
  clientTlsKey: optionalPath(),
  sshTunnel: sshTunnelSetting,
};

export type DatabaseSettings = SettingsOf<typeof definition>;

export const databaseSettings = { ...defineSettings(definition), checkLiteral: databaseLiteralChecks(SSL_MODES) };
