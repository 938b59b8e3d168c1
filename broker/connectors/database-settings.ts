// The `config:` settings and literal checks the database connectors (pg, mysql) share.
import type { ConnectorFormHints, ServiceConfig } from '../config/types.js';
import { count, databaseLiteralChecks, defineSettings, durationMs, flag, looseBooleanSetting, optionalPath, type Setting, type SettingsOf } from '../config/setting-checks.js';
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
  /** The database copied connection strings and `test NAME` open. */
  database: {
    check: (v) => (typeof v === 'string' && v.trim() !== '' ? undefined : 'must be a database name'),
    read: (v) => v as string | undefined,
  } satisfies Setting<string | undefined>,
};

export type DatabaseSettings = SettingsOf<typeof definition>;

export const databaseSettings = { ...defineSettings(definition), checkLiteral: databaseLiteralChecks(SSL_MODES) };

/** The add/edit form of a database connector (pg, mysql): the same keys, its own port. */
export function databaseForm(label: string, port: number): ConnectorFormHints {
  return {
    label,
    listenOn: `tcp://127.0.0.1:${port + 10000}`,
    credentials: ['host', 'port', 'username', 'password', 'sslmode', 'sslrootcert'],
    config: ['database'],
    hints: {
      host: { label: 'Host', placeholder: 'db.example.com' },
      port: { label: 'Port', kind: 'number', default: String(port) },
      username: { label: 'User' },
      password: { label: 'Password', secret: true },
      sslmode: { label: 'TLS (sslmode)', kind: 'select', options: SSL_MODES, default: 'prefer' },
      sslrootcert: { label: 'CA certificate file', placeholder: '/path/to/ca.pem', help: 'for verify-ca / verify-full' },
      database: { label: 'Default database', help: 'the database copied connection strings open' },
      sslcert: { label: 'Client certificate file' },
      sslkey: { label: 'Client key file', secret: true },
    },
  };
}

/**
 * The database copied connection strings and `test NAME` use: `config.database`, else a
 * literal `database` credential (which the broker forces anyway), else none.
 */
export function defaultDatabase(service: Pick<ServiceConfig, 'config' | 'credentials'>): string | undefined {
  if (typeof service.config.database === 'string' && service.config.database !== '') return service.config.database;
  const cred = service.credentials.database;
  return cred?.provider === 'literal' ? cred.id : undefined;
}
