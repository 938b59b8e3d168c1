// Every use of ssh2's private fields, in one file. ssh2 has no public API for: the raw
// socket behind a Connection or Client, an SSH_MSG_DISCONNECT with a description, an
// auth-agent channel opened by the server side, and exit-status after EOF. The broker
// needs all four, so they are reached here through typed accessors, ssh2 is pinned to
// an exact version in package.json, and checkSsh2Internals() (run at startup by `serve`
// and by a unit test) fails loudly when an ssh2 upgrade moves any of them.
import { createRequire } from 'node:module';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { Client, Connection, ServerChannel } from 'ssh2';
import { CodedError } from '../errors.js';
import { generateEd25519 } from './host-key.js';

/** The ssh2 version these accessors were written against (package.json pins it). */
export const SSH2_VERSION = '1.17.0';

interface PacketWriter {
  allocStartKEX: number;
  alloc(len: number, force?: boolean): Buffer;
  finalize(packet: Buffer, force?: boolean): Buffer;
}

interface ProtocolInternals {
  _packetRW: { write: PacketWriter };
  _cipher: { encrypt(packet: Buffer): void };
  openssh_authAgent(chan: number, window: number, packet: number): void;
  exitStatus(chan: number, code: number): void;
  exitSignal(chan: number, name: string, core: boolean, msg: string): void;
}

type OpenCallback = ((err: Error | undefined, stream?: Duplex) => void) & { type?: string };

interface ConnectionInternals {
  _sock?: net.Socket;
  _protocol?: ProtocolInternals;
  _chanMgr?: { add(cb: OpenCallback): number };
}

interface ChannelInternals {
  outgoing: { id: number; state: string };
  _client: { _protocol: ProtocolInternals };
}

const internals = (c: Connection | Client) => c as unknown as ConnectionInternals;

/** The socket a server-side Connection or a Client runs on (undefined before connect()). */
export function transportSocket(c: Connection | Client): net.Socket | undefined {
  return internals(c)._sock;
}

/** Whether a Client's transport can still carry a channel open. */
export function transportLive(c: Client): boolean {
  const sock = transportSocket(c);
  return !!sock && sock.writable !== false && !sock.destroyed;
}

/** Sends one encrypted transport-layer packet (payload = message number + body) on ssh2's packet writer. */
export function writeTransportPacket(conn: Connection, payload: Buffer): void {
  const proto = internals(conn)._protocol!;
  const writer = proto._packetRW.write;
  const packet = writer.alloc(payload.length, true);
  payload.copy(packet, writer.allocStartKEX);
  proto._cipher.encrypt(writer.finalize(packet, true));
}

/** Opens an auth-agent@openssh.com channel to the client, as ssh2's own forwardOut() opens forwarded-tcpip. */
export function openAgentChannel(conn: Connection, window: number, packetSize: number, cb: (err: Error | undefined, stream?: Duplex) => void): void {
  const i = internals(conn);
  const wrapper: OpenCallback = (err, stream) => cb(err, stream);
  wrapper.type = 'auth-agent@openssh.com';
  const local = i._chanMgr!.add(wrapper);
  if (local === -1) return cb(new Error('no free channels'));
  i._protocol!.openssh_authAgent(local, window, packetSize);
}

/** exit-status / exit-signal on a server channel, also after our EOF (ssh2's exit() only sends while 'open'). */
export function sendChannelExit(down: ServerChannel, exit: { code: number } | { signal: string; dumped: boolean; desc: string }): void {
  const ch = down as unknown as ChannelInternals;
  if (ch.outgoing.state !== 'open' && ch.outgoing.state !== 'eof') return;
  const proto = ch._client._protocol;
  if ('code' in exit) proto.exitStatus(ch.outgoing.id, exit.code);
  else proto.exitSignal(ch.outgoing.id, exit.signal, exit.dumped, exit.desc);
}

export class Ssh2InternalsError extends CodedError {
  constructor(message: string) {
    super('internal', message);
  }
}

let checked: Promise<void> | undefined;

/**
 * Runs a loopback SSH handshake between an ssh2 Server and Client in this process and
 * checks every private field the accessors above use. Rejects with Ssh2InternalsError
 * naming what moved. Memoized: the work is done once per process.
 */
export function checkSsh2Internals(): Promise<void> {
  return (checked ??= runCheck());
}

async function runCheck(): Promise<void> {
  const problems: string[] = [];
  const require = createRequire(import.meta.url);
  const version = (require('ssh2/package.json') as { version: string }).version;
  if (version !== SSH2_VERSION) problems.push(`ssh2 is ${version}, the accessors were written for ${SSH2_VERSION}`);
  // Our own encoder: ssh2's generateKeyPairSync('ed25519') writes a key its own parser calls
  // malformed about once in 200 (14 of 3,000 measured), which failed `serve` at start.
  const hostKey = generateEd25519('ssh2-self-check').private;
  const server = new ssh2.Server({ hostKeys: [hostKey] }, () => {});
  const tcp = net.createServer((sock) => server.injectSocket(sock));
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  const client = new ssh2.Client();
  try {
    const conn = await new Promise<Connection>((resolve, reject) => {
      server.once('connection', (c: Connection) => {
        // Attached at once: ssh2 parses the rest of the chunk right after emitting 'connection'.
        c.on('error', () => {});
        resolve(c);
      });
      // Errors after the check has what it needs (the connection ending) are expected.
      client.on('error', reject);
      client.connect({ host: '127.0.0.1', port: (tcp.address() as net.AddressInfo).port, username: 'check', readyTimeout: 60_000 });
    });
    const i = internals(conn);
    const need = (ok: unknown, what: string) => void (ok || problems.push(what));
    need(i._sock instanceof net.Socket, 'Connection._sock is not the socket');
    need(transportSocket(client) instanceof net.Socket, 'Client._sock is not the socket');
    const proto = i._protocol;
    need(proto, 'Connection._protocol is missing');
    need(typeof proto?._packetRW?.write?.alloc === 'function' && typeof proto._packetRW.write.finalize === 'function', 'Protocol._packetRW.write.alloc/finalize are missing');
    need(typeof proto?._packetRW?.write?.allocStartKEX === 'number', 'Protocol._packetRW.write.allocStartKEX is missing');
    need(typeof proto?._cipher?.encrypt === 'function', 'Protocol._cipher.encrypt is missing');
    need(typeof proto?.openssh_authAgent === 'function', 'Protocol.openssh_authAgent is missing');
    need(typeof proto?.exitStatus === 'function' && typeof proto.exitSignal === 'function', 'Protocol.exitStatus/exitSignal are missing');
    need(typeof i._chanMgr?.add === 'function', 'Connection._chanMgr.add is missing');
    // A server channel as ssh2 builds one for a session: sendChannelExit() reads these.
    const { Channel } = require('ssh2/lib/Channel.js') as { Channel: new (client: unknown, info: unknown, opts: unknown) => unknown };
    const window = { id: 7, window: 0, packetSize: 0, state: 'open' };
    const channel = new Channel(conn, { type: 'session', incoming: { ...window }, outgoing: window }, { server: true }) as ChannelInternals;
    need(channel.outgoing?.id === 7 && channel.outgoing.state === 'open', 'Channel.outgoing is not the channel state');
    need(channel._client?._protocol === proto, 'Channel._client._protocol is not the connection protocol');
    conn.end();
  } catch (err) {
    problems.push(`the loopback handshake failed: ${(err as Error).message}`);
  } finally {
    client.end();
    tcp.close();
  }
  if (problems.length) throw new Ssh2InternalsError(`ssh2's internals are not what the broker relies on (broker/ssh/ssh2-internals.ts): ${problems.join('; ')}`);
}
