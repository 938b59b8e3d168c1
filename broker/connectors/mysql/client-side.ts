// The client half of the MySQL handshake. The broker greets the client itself (the
// backend's version, connection id and status, the capabilities both sides can agree
// on, and its own random scramble), takes whatever user and password the client sends
// without using them, and remembers the client's database, character set, attributes
// and chosen capabilities for the backend login.
import type { Socket } from 'node:net';
import * as tls from 'node:tls';
import { BrokerError } from '../../errors.js';
import { abortError } from '../../net/abort.js';
import { createSocketReader, type SocketReader } from '../../net/socket-reader.js';
import { acceptTls } from '../../tls/client-tls.js';
import { loginRandom } from '../login-random.js';
import type { ConnectionContext } from '../types.js';
import { CACHING_SHA2_PLUGIN, FAST_AUTH_SUCCESS } from './auth-caching-sha2.js';
import { clientFacingCapabilities } from './capabilities.js';
import { NATIVE_PLUGIN } from './auth-native.js';
import {
  CAP,
  encodeAuthMoreData,
  encodeAuthSwitch,
  encodeGreeting,
  encodePacket,
  MysqlProtocolError,
  packetParser,
  parseHandshakeResponse,
  type Greeting,
  type HandshakeResponse,
} from './codec.js';

/** Handshake responses carry at most 64 KiB of attributes; anything near 1 MiB is not a client. */
export const MAX_CLIENT_HANDSHAKE = 1024 * 1024;

/** Per client: the sequence number the broker writes next (ERR packets need it). */
export interface ClientState {
  socket: Socket;
  reader: SocketReader;
  nextSeq: number;
}

export function clientState(socket: Socket, ctx: ConnectionContext): ClientState {
  const reader = createSocketReader(socket, {
    signal: ctx.signal,
    closedError: () => new BrokerError('protocol_violation', 'the client closed the connection during the handshake'),
    abortedError: () => abortError(ctx.signal, ctx.service.name),
  });
  return { socket, reader, nextSeq: 0 };
}

/** Printable, NUL-free bytes, as servers generate them (clients read part 2 up to a NUL). */
export function newScramble(): Buffer {
  const b = loginRandom(20);
  for (let i = 0; i < b.length; i++) b[i] = 0x21 + (b[i]! % 94);
  return b;
}

export async function readPacket(state: ClientState, maxPayload = MAX_CLIENT_HANDSHAKE): Promise<{ seq: number; payload: Buffer }> {
  try {
    const packet = await state.reader.read(packetParser(maxPayload));
    state.nextSeq = (packet.seq + 1) & 0xff;
    return packet;
  } catch (err) {
    if (err instanceof MysqlProtocolError) throw new BrokerError(err.kind === 'too-large' ? 'packet_too_large' : 'protocol_violation', err.message);
    throw err;
  }
}

export function writePacket(state: ClientState, payload: Buffer): void {
  state.socket.write(encodePacket(state.nextSeq, payload));
  state.nextSeq = (state.nextSeq + 1) & 0xff;
}

/** Several packets in one write (one syscall on the login's hot path). */
export function writePackets(state: ClientState, payloads: Buffer[]): void {
  const framed = payloads.map((p) => {
    const b = encodePacket(state.nextSeq, p);
    state.nextSeq = (state.nextSeq + 1) & 0xff;
    return b;
  });
  state.socket.write(framed.length === 1 ? framed[0]! : Buffer.concat(framed));
}

export interface ClientLogin {
  response: HandshakeResponse;
  /** Packets to send before the final OK (e.g. caching_sha2 fast-auth success). */
  beforeOk: Buffer[];
}

type Offer = { capabilities: number; mariadbCapabilities: number };

function greetingPayload(backend: Greeting, offered: Offer, offerTls: boolean, scramble: Buffer): Buffer {
  return encodeGreeting({
    serverVersion: backend.serverVersion,
    // The backend's id, so KILL QUERY <id> from another session (mariadb's Ctrl-C) hits this session.
    connectionId: backend.connectionId,
    scramble,
    capabilities: offerTls ? (offered.capabilities | CAP.SSL) >>> 0 : offered.capabilities,
    mariadbCapabilities: offered.mariadbCapabilities,
    charset: backend.charset || 45,
    status: backend.status,
    authPlugin: NATIVE_PLUGIN,
  });
}

export function greetClient(state: ClientState, backend: Greeting, offered: Offer, offerTls = false): Buffer {
  const scramble = newScramble();
  writePacket(state, greetingPayload(backend, offered, offerTls, scramble));
  return scramble;
}

/** The greeting the broker sends before dialing, encoded once per target profile: per client only the scramble is new. */
export interface GreetingTemplate {
  profile: Greeting;
  offered: Offer;
  payload: Buffer;
  /** Where the scramble's two parts go (8 bytes, then 12). */
  scrambleAt: readonly [number, number];
}

export function greetingTemplate(profile: Greeting, offerTls: boolean): GreetingTemplate {
  const offered = clientFacingCapabilities(profile);
  const payload = greetingPayload({ ...profile, connectionId: 0 }, offered, offerTls, Buffer.alloc(20, 0x21));
  // Protocol 10, the NUL-terminated version, the 4-byte connection id, scramble part 1,
  // 19 bytes of flags and lengths, then part 2 (encodeGreeting).
  const first = 1 + Buffer.byteLength(profile.serverVersion) + 1 + 4;
  return { profile, offered, payload, scrambleAt: [first, first + 8 + 19] };
}

export function greetFromTemplate(state: ClientState, template: GreetingTemplate): Buffer {
  const scramble = newScramble();
  const payload = Buffer.from(template.payload);
  scramble.copy(payload, template.scrambleAt[0], 0, 8);
  scramble.copy(payload, template.scrambleAt[1], 8);
  writePacket(state, payload);
  return scramble;
}

/** Whether two greetings offer clients the same (what a template is made of). */
export function sameProfile(a: Greeting, b: Greeting): boolean {
  return a.serverVersion === b.serverVersion && a.capabilities === b.capabilities && a.mariadbCapabilities === b.mariadbCapabilities && a.charset === b.charset && a.status === b.status;
}

/**
 * Reads the handshake response and completes the client's auth dialogue, short of the
 * final OK. With `clientTls`, an SSLRequest switches the client connection to TLS first
 * (the client sends its ClientHello right behind the SSLRequest, without waiting).
 */
export async function readClientLogin(state: ClientState, scramble: Buffer, ctx?: ConnectionContext, clientTls?: () => Promise<tls.SecureContext>): Promise<ClientLogin> {
  let first = parseClientResponse((await readPacket(state)).payload);
  if (first.type === 'ssl-request' && clientTls && ctx) {
    await acceptClientTls(state, await clientTls(), ctx);
    first = parseClientResponse((await readPacket(state)).payload);
    if (first.type === 'ssl-request') throw new BrokerError('protocol_violation', 'a second SSL request inside TLS');
  }
  if (first.type === 'ssl-request')
    throw new BrokerError(
      'protocol_violation',
      'this broker service does not offer TLS to clients (set clientTls: true in its config to offer it); connect without TLS, e.g. --ssl-mode=DISABLED, --skip-ssl or ssl: false',
    );
  if (first.capabilities & CAP.COMPRESS) throw new BrokerError('protocol_violation', 'the client asked for compression, which the broker does not offer');
  const plugin = first.capabilities & CAP.PLUGIN_AUTH ? first.authPlugin || NATIVE_PLUGIN : NATIVE_PLUGIN;
  if (plugin === NATIVE_PLUGIN) return { response: first, beforeOk: [] };
  // A MySQL 8 client's default: answer as a server with the password cached would.
  if (plugin === CACHING_SHA2_PLUGIN) return { response: first, beforeOk: [encodeAuthMoreData(Buffer.from([FAST_AUTH_SUCCESS]))] };
  // Anything else (client_ed25519, sha256_password, dialog...): switch to native; the answer is ignored.
  writePacket(state, encodeAuthSwitch(NATIVE_PLUGIN, scramble));
  await readPacket(state);
  return { response: first, beforeOk: [] };
}

async function acceptClientTls(state: ClientState, context: tls.SecureContext, ctx: ConnectionContext): Promise<void> {
  const early = state.reader.detach();
  if (early.length) state.socket.unshift(early);
  const secure = await acceptTls(state.socket, context, ctx.signal, ctx.service.name);
  state.socket = secure;
  state.reader = clientState(secure, ctx).reader;
}

function parseClientResponse(payload: Buffer): ReturnType<typeof parseHandshakeResponse> {
  try {
    return parseHandshakeResponse(payload);
  } catch (err) {
    if (err instanceof MysqlProtocolError) throw new BrokerError('protocol_violation', err.message);
    throw err;
  }
}
