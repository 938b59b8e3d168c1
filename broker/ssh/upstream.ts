// Connects and authenticates the broker's ssh2 client to an SSH target, mapping every
// failure to a BrokerError with a message the user can act on.
import ssh2 from 'ssh2';
import type { Client, ConnectConfig } from 'ssh2';
import { abortError } from '../net/abort.js';
import { BrokerError } from '../errors.js';
import type { Logger } from '../log.js';
import { fingerprintOf } from './keys.js';
import type { SshTarget } from './target.js';
import { SOCKET_ERROR_REASONS } from '../net/dial.js';

export interface ConnectSshOptions {
  service: string;
  signal: AbortSignal;
  logger: Logger;
  /** Time for TCP connect, key exchange and authentication. Default 20 s. */
  timeoutMs?: number;
  /** Send keepalives on long-lived connections (bastion pool). */
  keepaliveIntervalMs?: number;
  /** Extra ssh2 settings (agent forwarding). */
  extra?: Partial<ConnectConfig>;
}

export function connectSsh(target: SshTarget, opts: ConnectSshOptions): Promise<Client> {
  const { service, signal, logger } = opts;
  if (target.hostKey === 'insecure') {
    logger.warn('SSH HOST KEY CHECK DISABLED: insecureIgnoreHostKey is set, anyone on the path can impersonate the target', { service, target: target.display });
  }
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let presented: string | undefined;
    let settled = false;
    const finish = (err?: BrokerError) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (err) {
        client.removeAllListeners('ready');
        client.on('error', () => {});
        client.end();
        reject(err);
      } else {
        resolve(client);
      }
    };
    const onAbort = () => finish(abortError(signal, service));
    signal.addEventListener('abort', onAbort, { once: true });
    client.once('ready', () => {
      client.removeAllListeners('error');
      // Later errors surface through 'close'; an unhandled 'error' would crash the broker.
      client.on('error', (err) => logger.debug('ssh upstream error', { service, target: target.display, reason: err.message }));
      finish();
    });
    client.once('error', (err: Error & { level?: string; code?: string }) => finish(mapError(err, target, service, presented)));
    client.once('close', () => finish(new BrokerError('target_unreachable', `the SSH target ${target.display} of service '${service}' closed the connection during login`)));
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.username,
      readyTimeout: opts.timeoutMs ?? 20_000,
      keepaliveInterval: opts.keepaliveIntervalMs ?? 0,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        presented = fingerprintOf(key);
        return target.hostKey === 'insecure' || target.hostKey.accepts(key);
      },
      ...opts.extra,
    };
    if (target.privateKey) config.privateKey = target.privateKey.ssh2Key as unknown as Buffer;
    if (target.password) config.password = target.password.toString('utf8');
    // Only the methods we hold credentials for; never keyboard-interactive prompts.
    const methods: object[] = [];
    if (target.privateKey) methods.push({ type: 'publickey', username: target.username, key: target.privateKey.ssh2Key });
    if (target.password) methods.push({ type: 'password', username: target.username, password: target.password.toString('utf8') });
    config.authHandler = methods as ConnectConfig['authHandler'];
    if (signal.aborted) return onAbort();
    try {
      client.connect(config);
    } catch (err) {
      finish(new BrokerError('internal', 'could not start the SSH client', { cause: err }));
    }
  });
}

function mapError(err: Error & { level?: string; code?: string }, target: SshTarget, service: string, presented: string | undefined): BrokerError {
  const where = `the SSH target ${target.display} of service '${service}'`;
  if (target.hostKey !== 'insecure' && presented && /verification failed|Host denied/i.test(err.message)) {
    return new BrokerError(
      'host_key_mismatch',
      `${where} presented host key ${presented}, which does not match the configured hostKey (${target.hostKey.pinned.join(', ')}); if the host was really re-keyed, update hostKey`,
      { cause: err },
    );
  }
  if (err.level === 'client-socket' || err.code) {
    const why = SOCKET_ERROR_REASONS[err.code ?? ''] ?? 'connection failed';
    return new BrokerError('target_unreachable', `cannot reach ${where}: ${why}`, { cause: err });
  }
  if (err.level === 'client-timeout') return new BrokerError('timeout', `${where} did not complete the login in time`, { cause: err });
  if (err.level === 'client-authentication') {
    return new BrokerError('target_rejected_credentials', `${where} rejected the broker's configured credentials (user '${target.username}')`, { cause: err });
  }
  // ssh2's own protocol messages (e.g. no matching key exchange algorithm); they carry no credential.
  return new BrokerError('target_protocol_error', `SSH with ${where} failed: ${err.message}`, { cause: err });
}
