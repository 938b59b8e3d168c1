// The target half of a Redis connection: dial (directly, through an SSH bastion, or a
// Unix socket), TLS from the first byte when sslmode asks for it (RESP has no STARTTLS),
// then the broker's own login dialogue (login.ts).
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ResolvedCredentials } from '../../credentials/types.js';
import { BrokerError } from '../../errors.js';
import { backendTlsFromCredentials, upgradeToTls } from '../../tls/backend-tls.js';
import { abortError } from '../../net/abort.js';
import { dial, targetAddress, type TargetAddress, type Tunnel } from '../../net/dial.js';
import { createSocketReader } from '../../net/socket-reader.js';
import type { ConnectionContext } from '../types.js';
import { createLoginDialogue, type LoginSettings, type LoginStep } from './login.js';
import { parseReply, RespProtocolError, type RespValue } from './resp.js';

/** Credential keys the connector understands (besides the sshTunnel* ones). */
export const REDIS_CREDENTIALS = ['host', 'port', 'username', 'password', 'db', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'sslhost'];

/** pg/mysql's sslmode names; `prefer` has no meaning without a TLS negotiation, which RESP lacks. */
export const REDIS_SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;

/** host/port credentials; a host starting with '/' is the server's socket file (redis-cli -s). */
function redisTarget(creds: ResolvedCredentials): TargetAddress {
  return targetAddress(creds.text('host')!, creds.text('port'), 6379);
}

export function loginSettings(creds: ResolvedCredentials, service: string): LoginSettings {
  const dbText = creds.text('db')?.trim();
  const db = dbText ? Number(dbText) : undefined;
  if (db !== undefined && !(Number.isInteger(db) && db >= 0)) throw new BrokerError('target_error', `service '${service}': db must be a database number (0, 1, ...)`);
  const password = creds.values.get('password');
  return { username: creds.text('username') || undefined, password: password?.length ? password : undefined, db };
}

export interface TargetLogin {
  socket: Socket | TLSSocket;
  addr: TargetAddress;
  tls: boolean;
  step: Extract<LoginStep, { type: 'done' }>;
  /** What the broker logged in with (the data phase re-sends it for a client's AUTH). */
  settings: LoginSettings;
  /** Bytes the server sent past the login (none expected). */
  pending: Buffer;
}

async function openSocket(creds: ResolvedCredentials, addr: TargetAddress, ctx: ConnectionContext, signal: AbortSignal, connectMs: number, via?: Tunnel): Promise<Socket | TLSSocket> {
  const name = ctx.service.name;
  const mode = creds.text('sslmode');
  if (mode === 'prefer') throw new BrokerError('tls_failed', `service '${name}': sslmode prefer is not available for redis (use disable, require, verify-ca or verify-full)`);
  const tls = await backendTlsFromCredentials(creds, addr.host);
  const socket = await dial({ host: addr.host, port: addr.port, path: addr.path, signal, timeoutMs: connectMs, service: name, via });
  // As libpq: a Unix socket is never TLS, whatever sslmode says.
  if (tls.mode === 'disable' || addr.path) return socket;
  // A plain Redis server never answers a TLS handshake (it waits for a newline), so the
  // handshake gets the connect deadline rather than the whole login's.
  const handshake = AbortSignal.any([signal, AbortSignal.timeout(connectMs)]);
  const plainHint = `a plain Redis server does not speak TLS: for one, set sslmode: disable`;
  try {
    return await upgradeToTls(socket, tls, addr.display, handshake, () =>
      signal.aborted ? abortError(signal, name) : new BrokerError('tls_failed', `TLS to ${addr.display} failed: no answer to the TLS handshake within ${connectMs / 1000} s (${plainHint})`),
    );
  } catch (err) {
    if (err instanceof BrokerError && err.code === 'tls_failed' && /ECONNRESET|socket disconnected|wrong version number|packet length too long/i.test(err.message))
      throw new BrokerError('tls_failed', `${err.message} (${plainHint})`);
    throw err;
  }
}

/** Connects and logs in; the returned socket is authenticated, in RESP2, on the service's db. */
export async function loginTarget(creds: ResolvedCredentials, ctx: ConnectionContext, timeouts: { connectMs: number; authMs: number }, via?: Tunnel): Promise<TargetLogin> {
  const name = ctx.service.name;
  const addr = redisTarget(creds);
  const settings = loginSettings(creds, name);
  // One deadline for connect, TLS and login: a silent target must not hang the client.
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(timeouts.authMs)]);
  const socket = await openSocket(creds, addr, ctx, signal, timeouts.connectMs, via);
  const reader = createSocketReader(socket, {
    signal,
    closedError: () => new BrokerError('target_unreachable', `the target ${addr.display} closed the connection during the login`),
    abortedError: () => abortError(signal, name),
  });
  try {
    const dialogue = createLoginDialogue(settings, { service: name, target: addr.display });
    let step = dialogue.first();
    while (step.type === 'send') {
      socket.write(step.bytes);
      const replies: RespValue[] = [];
      for (let k = 0; k < step.replies; k++) replies.push(await reader.read(parseServerReply(addr)));
      step = dialogue.onReplies(replies);
    }
    return { socket, addr, tls: !!(socket as TLSSocket).encrypted, step, settings, pending: reader.detach() };
  } catch (err) {
    reader.detach();
    socket.destroy();
    throw err;
  }
}

function parseServerReply(addr: TargetAddress) {
  return (buf: Buffer) => {
    try {
      return parseReply(buf);
    } catch (err) {
      if (err instanceof RespProtocolError) throw new BrokerError('target_protocol_error', `the target ${addr.display} is not a Redis server: ${err.message}`);
      throw err;
    }
  };
}
