// One SSH connection per bastion, shared by every tunnelled connection of a service
// (ssh-tunnel services and database services with sshTunnel* credentials). A dropped
// connection is forgotten and re-established by the next connection; an idle one is
// closed after a while.
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Client } from 'ssh2';
import { BrokerError } from '../errors.js';
import { abortError } from '../net/abort.js';
import type { Logger } from '../log.js';
import type { SshTarget } from './target.js';
import { transportLive } from './ssh2-internals.js';
import { connectSsh } from './upstream.js';

export interface ForwardOptions {
  service: string;
  signal: AbortSignal;
  logger: Logger;
  timeoutMs?: number;
}

export interface BastionPool {
  /** A channel to host:port opened by the bastion, usable as a socket by splice and TLS. */
  forward(bastion: SshTarget, host: string, port: number, opts: ForwardOptions): Promise<Socket>;
  /** Open bastion connections (for tests and status). */
  size(): number;
  /** Ends every bastion connection (the broker stopping). */
  closeAll(): void;
}

interface Entry {
  client: Promise<Client>;
  channels: number;
  idle?: NodeJS.Timeout;
}

/** Key of one bastion login: service plus a hash of the settings (never the values themselves). */
function poolKey(service: string, t: SshTarget): string {
  const h = createHash('sha256');
  for (const part of [t.host, String(t.port), t.username, t.privateKey?.fingerprint ?? '', t.password ?? '', t.hostKey === 'insecure' ? '-' : t.hostKey.pinned.join(',')]) {
    h.update(part).update('\0');
  }
  return `${service}\0${h.digest('hex')}`;
}

export function createBastionPool(options: { idleMs?: number; keepaliveIntervalMs?: number } = {}): BastionPool {
  const idleMs = options.idleMs ?? 5 * 60_000;
  const entries = new Map<string, Entry>();

  function connect(key: string, bastion: SshTarget, opts: ForwardOptions): Entry {
    // The login outlives the connection that started it, so it gets its own signal.
    const own = new AbortController();
    const entry: Entry = { channels: 0, client: connectSsh(bastion, { service: opts.service, signal: own.signal, logger: opts.logger, timeoutMs: opts.timeoutMs, keepaliveIntervalMs: options.keepaliveIntervalMs ?? 15_000 }) };
    entries.set(key, entry);
    entry.client.then(
      (client) => {
        opts.logger.info('ssh bastion connected', { service: opts.service, bastion: bastion.display });
        client.once('close', () => {
          if (entries.get(key) === entry) entries.delete(key);
          clearTimeout(entry.idle);
          opts.logger.info('ssh bastion connection closed; the next connection re-establishes it', { service: opts.service, bastion: bastion.display });
        });
      },
      () => {
        if (entries.get(key) === entry) entries.delete(key);
      },
    );
    return entry;
  }

  /** `retried`: a connection that went away under us gets one fresh attempt, not more. */
  async function forward(bastion: SshTarget, host: string, port: number, opts: ForwardOptions, retried = false): Promise<Socket> {
    const key = poolKey(opts.service, bastion);
    const entry = entries.get(key) ?? connect(key, bastion, opts);
    const live = await entry.client.then(transportLive, () => true);
    if (!live) {
      // Dropped, and its close not processed yet: start over instead of failing this connection.
      if (entries.get(key) === entry) entries.delete(key);
      return forward(bastion, host, port, opts, retried);
    }
    clearTimeout(entry.idle);
    entry.channels++;
    const release = () => {
      if (--entry.channels > 0) return;
      entry.idle = setTimeout(() => void entry.client.then((c) => c.end(), () => {}), idleMs);
      entry.idle.unref();
    };
    let client: Client;
    try {
      client = await entry.client;
    } catch (err) {
      release();
      throw err;
    }
    const dest = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise<Socket>((resolve, reject) => {
      const onAbort = () => reject(abortError(opts.signal, opts.service));
      opts.signal.addEventListener('abort', onAbort, { once: true });
      try {
        client.forwardOut('127.0.0.1', 0, host, port, (err, channel) => {
          opts.signal.removeEventListener('abort', onAbort);
          if (err) {
            release();
            if (!retried && !transportLive(client)) {
              // The bastion connection died while the channel was being opened.
              if (entries.get(key) === entry) entries.delete(key);
              return resolve(forward(bastion, host, port, opts, true));
            }
            // ssh2 words it "(SSH) Channel open failure: <reason from the bastion>".
            const why = err.message.replace(/^\(SSH\) Channel open failure:\s*/, '') || 'refused';
            return reject(new BrokerError('target_unreachable', `cannot reach the target ${dest} of service '${opts.service}' through the SSH bastion ${bastion.display}: ${why}`, { cause: err }));
          }
          channel.once('close', release);
          if (opts.signal.aborted) {
            channel.close();
            return;
          }
          resolve(channel as unknown as Socket);
        });
      } catch (err) {
        // forwardOut throws when the connection just went away.
        opts.signal.removeEventListener('abort', onAbort);
        release();
        if (entries.get(key) === entry) entries.delete(key);
        if (!retried) return resolve(forward(bastion, host, port, opts, true));
        reject(new BrokerError('target_unreachable', `the SSH bastion ${bastion.display} of service '${opts.service}' dropped the connection`, { cause: err }));
      }
    });
  }

  return {
    forward: (bastion, host, port, opts) => forward(bastion, host, port, opts),
    size: () => entries.size,
    closeAll() {
      for (const entry of entries.values()) void entry.client.then((c) => c.end(), () => {});
      entries.clear();
    },
  };
}
