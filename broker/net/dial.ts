// Opens the TCP (or Unix socket) connection to a target, with a timeout and abort.
import * as net from 'node:net';
import { BrokerError } from '../errors.js';
import { abortError } from './abort.js';

export interface DialOptions {
  host: string;
  port: number;
  signal: AbortSignal;
  timeoutMs?: number;
  /** For messages: which service wants the target. */
  service: string;
  /** Reach host:port through this tunnel (an SSH bastion) instead of directly. */
  via?: Tunnel;
}

/** A way to reach host:port other than a direct TCP connect; errors are BrokerErrors. */
export interface Tunnel {
  open(host: string, port: number, options: { signal: AbortSignal; timeoutMs: number; service: string }): Promise<net.Socket>;
}

/** "host:port", or the socket path for a host that is a directory (libpq style). */
export function describeTarget(host: string, port: number, socketName?: (port: number) => string): string {
  return host.startsWith('/') && socketName ? `${host}/${socketName(port)}` : host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export interface TargetAddress {
  host: string;
  port: number;
  /** The Unix socket file to dial instead of host:port. */
  path?: string;
  /** host:port or the socket path, for messages and audit. */
  display: string;
}

/**
 * The `host`/`port` credentials of a database service as a dial target. A host starting
 * with '/' is a Unix socket: the file itself, or (with socketName, libpq style) the
 * directory holding socketName(port).
 */
export function targetAddress(host: string, portText: string | undefined, defaultPort: number, socketName?: (port: number) => string): TargetAddress {
  const text = portText ?? String(defaultPort);
  const port = Number(text);
  // A credential value (from a provider) that cannot work: a config problem the client is told about, without the value.
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new BrokerError('config_invalid', "the credential 'port' is not a port number (1-65535)");
  const path = host.startsWith('/') ? (socketName ? `${host}/${socketName(port)}` : host) : undefined;
  return { host, port, path, display: path ?? describeTarget(host, port) };
}

/** Socket error codes in words, for messages about unreachable targets (shared with SSH). */
export const SOCKET_ERROR_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'timed out',
  ENOENT: 'no socket at that path',
  ECONNRESET: 'connection reset',
};

export function dial(options: DialOptions & { path?: string }): Promise<net.Socket> {
  const target = options.path ?? describeTarget(options.host, options.port);
  const via = options.via;
  if (via) {
    if (options.path) return Promise.reject(new BrokerError('target_unreachable', `service '${options.service}': a Unix socket target (${target}) cannot be reached through an SSH tunnel`));
    return via.open(options.host, options.port, { signal: options.signal, timeoutMs: options.timeoutMs ?? 10_000, service: options.service });
  }
  return new Promise((resolve, reject) => {
    const socket = options.path ? net.connect({ path: options.path }) : net.connect({ host: options.host, port: options.port, noDelay: true });
    const timer = setTimeout(() => done(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })), options.timeoutMs ?? 10_000);
    const onAbort = () => done(abortError(options.signal, options.service));
    options.signal.addEventListener('abort', onAbort, { once: true });
    function done(err?: Error & { code?: string }) {
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      socket.off('error', done);
      socket.off('connect', ok);
      if (!err) return resolve(socket);
      socket.destroy();
      if (err instanceof BrokerError) return reject(err);
      const why = SOCKET_ERROR_REASONS[err.code ?? ''] ?? err.message;
      reject(new BrokerError('target_unreachable', `cannot reach the target ${target} of service '${options.service}': ${why}`, { cause: err }));
    }
    function ok() {
      done();
    }
    socket.once('error', done);
    socket.once('connect', ok);
    if (options.signal.aborted) onAbort();
  });
}
