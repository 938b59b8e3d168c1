// `sshTunnel*` credentials of a database service (pg, mysql): the broker reaches the
// database through an SSH bastion from the shared pool and still logs in with the
// database password. The connector calls prepare() per connection and passes the
// returned tunnel to its dials (cancel requests included), so each connection uses the
// bastion settings resolved with its own credentials.
import type { Setting } from '../config/setting-checks.js';
import type { ServiceConfig } from '../config/types.js';
import type { Tunnel } from '../net/dial.js';
import type { ResolvedCredentials } from '../credentials/types.js';
import { BrokerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { BastionPool } from './bastion-pool.js';
import { readSshTarget, SSH_TUNNEL_CREDENTIALS } from './target.js';

/** Every credential key of the bastion, for the connectors' known-keys lists. */
export const SSH_TUNNEL_KEYS: string[] = Object.values(SSH_TUNNEL_CREDENTIALS);

export interface DbTunnel {
  /** Checks the bastion settings; returns the tunnel for this connection's dials and the credentials without the sshTunnel* keys. */
  prepare(creds: ResolvedCredentials): { creds: ResolvedCredentials; via: Tunnel };
}

export interface TunnelSettings {
  insecureIgnoreHostKey: boolean;
  connectTimeoutMs: number;
}

function readSettings(value: unknown): TunnelSettings | string {
  if (value === undefined || value === true) return { insecureIgnoreHostKey: false, connectTimeoutMs: 20_000 };
  if (typeof value !== 'object' || Array.isArray(value)) return 'config.sshTunnel must be a mapping (insecureIgnoreHostKey, connectTimeoutMs)';
  const v = value as Record<string, unknown>;
  const unknown = Object.keys(v).filter((k) => k !== 'insecureIgnoreHostKey' && k !== 'connectTimeoutMs');
  if (unknown.length) return `config.sshTunnel: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (expected insecureIgnoreHostKey, connectTimeoutMs)`;
  if (v.insecureIgnoreHostKey !== undefined && typeof v.insecureIgnoreHostKey !== 'boolean') return 'config.sshTunnel.insecureIgnoreHostKey must be true or false';
  const timeout = v.connectTimeoutMs ?? 20_000;
  if (typeof timeout !== 'number' || !(timeout > 0)) return 'config.sshTunnel.connectTimeoutMs must be a positive number';
  return { insecureIgnoreHostKey: v.insecureIgnoreHostKey === true, connectTimeoutMs: timeout };
}

/** The `sshTunnel` setting of a database service: undefined when absent. */
export const sshTunnelSetting: Setting<TunnelSettings | undefined> = {
  // The config error already names services.NAME.config.sshTunnel.
  check(value) {
    const settings = readSettings(value);
    return typeof settings === 'string' ? settings.replace(/^config\.sshTunnel(: |\.)?/, '') : undefined;
  },
  read: (value) => (value === undefined ? undefined : (readSettings(value) as TunnelSettings)),
};

/** For a service with `sshTunnelAddress` among its credentials (or a `config.sshTunnel`): the tunnel; otherwise undefined. */
export function createDbTunnel(service: ServiceConfig, configured: TunnelSettings | undefined, deps: { logger: Logger; bastions: BastionPool }): DbTunnel | undefined {
  const wanted = SSH_TUNNEL_CREDENTIALS.address in service.credentials || configured !== undefined;
  if (!wanted) return undefined;
  const settings = configured ?? (readSettings(undefined) as TunnelSettings);
  const log = deps.logger.child({ service: service.name });
  if (settings.insecureIgnoreHostKey) {
    log.warn('service has sshTunnel.insecureIgnoreHostKey: the bastion host key is NOT checked');
  }
  return {
    prepare(creds) {
      const bastion = readSshTarget(creds, SSH_TUNNEL_CREDENTIALS, { service: service.name, insecureIgnoreHostKey: settings.insecureIgnoreHostKey });
      const via: Tunnel = {
        open: (host, port, opts) =>
          deps.bastions.forward(bastion, host, port, { service: service.name, signal: opts.signal, logger: log, timeoutMs: settings.connectTimeoutMs }),
      };
      const values = new Map([...creds.values].filter(([k]) => !SSH_TUNNEL_KEYS.includes(k)));
      return { creds: { values, ...(creds.expiresAt ? { expiresAt: creds.expiresAt } : {}), text: (k) => values.get(k)?.toString('utf8') }, via };
    },
  };
}
