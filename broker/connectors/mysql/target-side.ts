// The target half of the MySQL handshake: dial, read the server's greeting, then (once
// the client has answered the broker's greeting) negotiate TLS per sslmode and log in
// with the service's credentials; each authentication plugin's dialogue (auth switch,
// AuthMoreData follow-ups) is its own file behind auth-mechanisms.ts.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ResolvedCredentials } from '../../credentials/types.js';
import { BrokerError, REJECTED_CREDENTIALS_HINT } from '../../errors.js';
import { backendTlsFromCredentials, upgradeToTls, type BackendTlsSettings } from '../../tls/backend-tls.js';
import { abortError } from '../../net/abort.js';
import { dial, targetAddress, type TargetAddress, type Tunnel } from '../../net/dial.js';
import { createSocketReader, type SocketReader } from '../../net/socket-reader.js';
import { loginDeadline } from '../login-deadline.js';
import type { ConnectionContext } from '../types.js';
import { greetingMechanism, switchMechanism } from './auth-mechanisms.js';
import { backendCapabilities } from './capabilities.js';
import {
  CAP,
  encodeHandshakeResponse,
  encodePacket,
  encodeSslRequest,
  MysqlProtocolError,
  packetParser,
  parseAuthReply,
  parseServerHello,
  type ErrPacket,
  type Greeting,
  type HandshakeResponse,
} from './codec.js';

/** Credential keys the connector understands. */
export const MYSQL_CREDENTIALS = ['host', 'port', 'username', 'password', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'sslhost', 'database'];

const MAX_SERVER_HANDSHAKE = 1024 * 1024;

/** A backend ERR relayed to the client unchanged (unknown database, too many connections...). */
export class BackendErr extends BrokerError {
  constructor(readonly err: ErrPacket) {
    super('target_error', `the target refused the login: ${err.errno} (${err.sqlState}) ${err.message}`);
  }
}

/** host/port credentials; a host starting with '/' is the server's socket file (mysql's --socket). */
export function mysqlTarget(creds: ResolvedCredentials): TargetAddress {
  return targetAddress(creds.text('host')!, creds.text('port'), 3306);
}

export interface TargetLink {
  socket: Socket | TLSSocket;
  reader: SocketReader;
  greeting: Greeting;
  addr: TargetAddress;
  tls: BackendTlsSettings;
  signal: AbortSignal;
  /** The login is over (either way): stops its deadline. */
  endDeadline(): void;
  nextSeq: number;
}

function targetReader(socket: Socket, addr: TargetAddress, signal: AbortSignal, service: string): SocketReader {
  return createSocketReader(socket, {
    signal,
    closedError: () => new BrokerError('target_unreachable', `the target ${addr.display} closed the connection during authentication`),
    abortedError: () => abortError(signal, service),
  });
}

async function readServerPacket(link: Pick<TargetLink, 'reader' | 'nextSeq'>): Promise<Buffer> {
  try {
    const packet = await link.reader.read(packetParser(MAX_SERVER_HANDSHAKE));
    link.nextSeq = (packet.seq + 1) & 0xff;
    return packet.payload;
  } catch (err) {
    if (err instanceof MysqlProtocolError) throw new BrokerError('target_protocol_error', `the target sent a malformed handshake: ${err.message}`);
    throw err;
  }
}

/** Connects and reads the server's greeting (before the client is greeted). */
export async function openTarget(creds: ResolvedCredentials, ctx: ConnectionContext, timeouts: { connectMs: number; authMs: number }, via?: Tunnel): Promise<TargetLink> {
  const name = ctx.service.name;
  const addr = mysqlTarget(creds);
  const tls = await backendTlsFromCredentials(creds, addr.host);
  // One deadline for connect, TLS and login: a silent target must not hang the client.
  const deadline = loginDeadline(ctx.signal, timeouts.authMs);
  const signal = deadline.signal;
  let socket: Socket;
  try {
    socket = await dial({ host: addr.host, port: addr.port, path: addr.path, signal, timeoutMs: timeouts.connectMs, service: name, via });
  } catch (err) {
    deadline.done();
    throw err;
  }
  const reader = targetReader(socket, addr, signal, name);
  const partial = { reader, nextSeq: 0 };
  try {
    let hello: ReturnType<typeof parseServerHello>;
    try {
      hello = parseServerHello(await readServerPacket(partial));
    } catch (err) {
      if (err instanceof MysqlProtocolError) throw new BrokerError('target_protocol_error', `the target ${addr.display} is not a MySQL server: ${err.message}`);
      throw err;
    }
    if (hello.type === 'err') throw new BackendErr(hello);
    if (!(hello.capabilities & CAP.PROTOCOL_41) || !(hello.capabilities & CAP.SECURE_CONNECTION))
      throw new BrokerError('target_protocol_error', `the target ${addr.display} does not speak the 4.1 protocol`);
    return { socket, reader, greeting: hello, addr, tls, signal, endDeadline: deadline.done, nextSeq: partial.nextSeq };
  } catch (err) {
    deadline.done();
    reader.detach();
    socket.destroy();
    throw err;
  }
}

/** A link given up on (a failed login, a probe that is done): its deadline, reader and socket go. */
export function dropLink(link: TargetLink): void {
  link.endDeadline();
  link.reader.detach();
  link.socket.destroy();
}

export interface BackendLogin {
  /** The backend's OK payload, relayed to the client (server status, session state). */
  ok: Buffer;
  authMethod: string;
  /** The data-phase capability flags both sides now use. */
  capabilities: number;
}

/** Negotiates TLS, sends the handshake response as the configured user, and authenticates. */
export async function loginTarget(
  link: TargetLink,
  client: HandshakeResponse,
  offered: { capabilities: number; mariadbCapabilities: number },
  creds: ResolvedCredentials,
  ctx: ConnectionContext,
): Promise<BackendLogin> {
  const name = ctx.service.name;
  const g = link.greeting;
  const caps = backendCapabilities(g, client, offered);
  const database = creds.text('database') ?? client.database;
  if (!database) caps.capabilities &= ~CAP.CONNECT_WITH_DB;
  const head = { capabilities: caps.capabilities, mariadbCapabilities: caps.mariadbCapabilities, maxPacketSize: client.maxPacketSize || 0x1000000, charset: client.charset || g.charset };
  const serverTls = !!(g.capabilities & CAP.SSL);
  const wantTls = link.tls.mode !== 'disable' && !link.addr.path;
  if (wantTls && serverTls) {
    caps.capabilities |= CAP.SSL;
    head.capabilities = caps.capabilities;
    if (link.reader.detach().length) throw new BrokerError('target_protocol_error', 'the target sent unexpected data before TLS');
    link.socket.write(encodePacket(link.nextSeq, encodeSslRequest(head)));
    link.nextSeq = (link.nextSeq + 1) & 0xff;
    const secure = await upgradeToTls(link.socket as Socket, link.tls, link.addr.display, link.signal, () => abortError(link.signal, name));
    link.socket = secure;
    link.reader = targetReader(secure, link.addr, link.signal, name);
  } else if (wantTls && link.tls.mode !== 'prefer') {
    throw new BrokerError('tls_failed', `the target ${link.addr.display} does not offer TLS, but service '${name}' has sslmode ${link.tls.mode}`);
  } else if (!wantTls && link.tls.mode !== 'disable' && link.tls.mode !== 'prefer') {
    // A Unix socket target: TLS is pointless there, as for mysql's own clients.
    ctx.logger.debug('Unix socket target: sslmode ignored', { service: name });
  }
  const username = creds.text('username')!;
  const input = {
    password: creds.values.get('password') ?? Buffer.alloc(0),
    secure: !!(caps.capabilities & CAP.SSL) || !!link.addr.path,
    debug: (message: string, fields?: Record<string, unknown>) => ctx.logger.debug(message, { service: name, ...fields }),
  };
  let mechanism = greetingMechanism(g.capabilities & CAP.PLUGIN_AUTH ? g.authPlugin : undefined);
  let exchange = mechanism.start({ ...input, nonce: g.scramble });
  const write = (payload: Buffer) => {
    link.socket.write(encodePacket(link.nextSeq, payload));
    link.nextSeq = (link.nextSeq + 1) & 0xff;
  };
  write(
    encodeHandshakeResponse({
      ...head,
      username,
      authResponse: exchange.first,
      database,
      authPlugin: mechanism.plugin,
      attributes: [...(client.attributes ?? [])],
    }),
  );
  for (let round = 0; round < 8; round++) {
    let reply: ReturnType<typeof parseAuthReply>;
    try {
      reply = parseAuthReply(await readServerPacket(link));
    } catch (err) {
      if (err instanceof MysqlProtocolError) throw new BrokerError('target_protocol_error', `the target sent a malformed authentication reply: ${err.message}`);
      throw err;
    }
    switch (reply.type) {
      case 'ok':
        return { ok: reply.raw, authMethod: mechanism.plugin, capabilities: caps.capabilities };
      case 'err':
        if (reply.errno === 1045 || reply.errno === 1698)
          throw new BrokerError(
            'target_rejected_credentials',
            `the target rejected the broker's configured credentials for service '${name}' (user '${username}'): ${reply.errno} (${reply.sqlState}) ${reply.message}; ${REJECTED_CREDENTIALS_HINT}`,
          );
        throw new BackendErr(reply);
      case 'auth-switch':
        mechanism = switchMechanism(reply.plugin);
        exchange = mechanism.start({ ...input, nonce: mechanism.switchNonce(reply.data) });
        write(exchange.first);
        continue;
      case 'auth-more-data': {
        if (!exchange.onMoreData) throw new BrokerError('target_protocol_error', `unexpected extra authentication data for ${mechanism.plugin}`);
        const answer = exchange.onMoreData(reply.data);
        if (answer) write(answer);
        continue;
      }
    }
  }
  throw new BrokerError('target_protocol_error', 'the target did not finish authentication');
}
