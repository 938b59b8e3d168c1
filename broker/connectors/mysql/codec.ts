// MySQL/MariaDB client/server protocol: pure parse and serialize for the connection
// phase (no I/O). Packets are [3-byte length][1-byte sequence][payload]; payloads of
// 0xffffff bytes continue in the next packet, which the handshake never needs.
import type { Parsed } from '../../net/socket-reader.js';
import { CodedError } from '../../errors.js';

// ---------- capability flags (lower 32 bits) ----------
export const CAP = {
  LONG_PASSWORD: 0x1, // MariaDB: CLIENT_MYSQL; cleared when extended capabilities are used
  FOUND_ROWS: 0x2,
  LONG_FLAG: 0x4,
  CONNECT_WITH_DB: 0x8,
  NO_SCHEMA: 0x10,
  COMPRESS: 0x20,
  ODBC: 0x40,
  LOCAL_FILES: 0x80,
  IGNORE_SPACE: 0x100,
  PROTOCOL_41: 0x200,
  INTERACTIVE: 0x400,
  SSL: 0x800,
  IGNORE_SIGPIPE: 0x1000,
  TRANSACTIONS: 0x2000,
  RESERVED: 0x4000,
  SECURE_CONNECTION: 0x8000,
  MULTI_STATEMENTS: 0x10000,
  MULTI_RESULTS: 0x20000,
  PS_MULTI_RESULTS: 0x40000,
  PLUGIN_AUTH: 0x80000,
  CONNECT_ATTRS: 0x100000,
  PLUGIN_AUTH_LENENC_CLIENT_DATA: 0x200000,
  CAN_HANDLE_EXPIRED_PASSWORDS: 0x400000,
  SESSION_TRACK: 0x800000,
  DEPRECATE_EOF: 0x1000000,
  OPTIONAL_RESULTSET_METADATA: 0x2000000,
  ZSTD_COMPRESSION: 0x4000000,
  QUERY_ATTRIBUTES: 0x8000000,
  MULTI_FACTOR_AUTH: 0x10000000,
  SSL_VERIFY_SERVER_CERT: 0x40000000,
  REMEMBER_OPTIONS: 0x80000000,
} as const;

/** MariaDB extended capabilities (bits 32..63, sent in otherwise reserved bytes). */
export const MARIADB_CAP = {
  PROGRESS: 0x1,
  COM_MULTI: 0x2,
  STMT_BULK_OPERATIONS: 0x4,
  EXTENDED_METADATA: 0x8,
  CACHE_METADATA: 0x10,
  BULK_UNIT_RESULTS: 0x20,
} as const;

export const COM = {
  QUIT: 0x01,
  QUERY: 0x03,
  PING: 0x0e,
  CHANGE_USER: 0x11,
  RESET_CONNECTION: 0x1f,
} as const;

/** Errors in bytes a peer sent; the connector maps them to BrokerErrors. */
export class MysqlProtocolError extends CodedError {
  constructor(
    readonly kind: 'malformed' | 'too-large',
    message: string,
  ) {
    super(kind === 'too-large' ? 'packet_too_large' : 'protocol_violation', message);
  }
}

// ---------- framing ----------

export interface Packet {
  seq: number;
  payload: Buffer;
}

export const MAX_PAYLOAD = 0xffffff;

/** A parser for one packet whose payload may not exceed maxPayload bytes. */
export function packetParser(maxPayload: number): (buf: Buffer) => Parsed<Packet> | null {
  return (buf) => {
    if (buf.length < 4) return null;
    const length = buf.readUIntLE(0, 3);
    if (length > maxPayload) throw new MysqlProtocolError('too-large', `packet of ${length} bytes exceeds the handshake limit of ${maxPayload} bytes`);
    if (buf.length < 4 + length) return null;
    return { value: { seq: buf[3]!, payload: Buffer.from(buf.subarray(4, 4 + length)) }, consumed: 4 + length };
  };
}

export function encodePacket(seq: number, payload: Buffer): Buffer {
  if (payload.length >= MAX_PAYLOAD) throw new Error('handshake packet too large');
  const header = Buffer.alloc(4);
  header.writeUIntLE(payload.length, 0, 3);
  header[3] = seq & 0xff;
  return Buffer.concat([header, payload]);
}

// ---------- primitive readers/writers ----------

class Reader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly what: string,
  ) {}
  fail(): never {
    throw new MysqlProtocolError('malformed', `malformed ${this.what}`);
  }
  get remaining(): number {
    return this.buf.length - this.pos;
  }
  u8(): number {
    if (this.remaining < 1) this.fail();
    return this.buf[this.pos++]!;
  }
  u16(): number {
    if (this.remaining < 2) this.fail();
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    if (this.remaining < 4) this.fail();
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  bytes(n: number): Buffer {
    if (n < 0 || this.remaining < n) this.fail();
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  rest(): Buffer {
    return this.bytes(this.remaining);
  }
  nulTerminated(): Buffer {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) this.fail();
    const v = this.buf.subarray(this.pos, end);
    this.pos = end + 1;
    return v;
  }
  /** NUL-terminated if there is a NUL, else the rest (servers differ on the last field). */
  nulOrRest(): Buffer {
    const end = this.buf.indexOf(0, this.pos);
    return end < 0 ? this.rest() : this.nulTerminated();
  }
  lenenc(): number {
    const first = this.u8();
    if (first < 0xfb) return first;
    if (first === 0xfc) return this.u16();
    if (first === 0xfd) {
      if (this.remaining < 3) this.fail();
      const v = this.buf.readUIntLE(this.pos, 3);
      this.pos += 3;
      return v;
    }
    if (first === 0xfe) {
      if (this.remaining < 8) this.fail();
      const v = this.buf.readBigUInt64LE(this.pos);
      this.pos += 8;
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail();
      return Number(v);
    }
    this.fail();
  }
  lenencBytes(): Buffer {
    return this.bytes(this.lenenc());
  }
}

export function encodeLenenc(n: number): Buffer {
  if (n < 0xfb) return Buffer.from([n]);
  if (n <= 0xffff) {
    const b = Buffer.alloc(3);
    b[0] = 0xfc;
    b.writeUInt16LE(n, 1);
    return b;
  }
  if (n <= 0xffffff) {
    const b = Buffer.alloc(4);
    b[0] = 0xfd;
    b.writeUIntLE(n, 1, 3);
    return b;
  }
  const b = Buffer.alloc(9);
  b[0] = 0xfe;
  b.writeBigUInt64LE(BigInt(n), 1);
  return b;
}

const lenencBytes = (b: Buffer): Buffer => Buffer.concat([encodeLenenc(b.length), b]);
const nul = (s: string | Buffer): Buffer => Buffer.concat([Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8'), Buffer.alloc(1)]);

// ---------- server greeting (Protocol::HandshakeV10) ----------

export interface Greeting {
  type: 'greeting';
  serverVersion: string;
  connectionId: number;
  /** Auth plugin data: 20 bytes for the usual plugins. */
  scramble: Buffer;
  capabilities: number;
  /** MariaDB extended capabilities (0 unless the server cleared CLIENT_MYSQL). */
  mariadbCapabilities: number;
  charset: number;
  status: number;
  authPlugin: string;
}

/** The first packet from a server: a greeting, or an ERR when it refuses us outright. */
export function parseServerHello(payload: Buffer): Greeting | ErrPacket {
  if (payload[0] === 0xff) return parseErr(payload);
  const r = new Reader(payload, 'server greeting');
  const protocol = r.u8();
  if (protocol !== 10) throw new MysqlProtocolError('malformed', `unsupported server protocol version ${protocol}`);
  const serverVersion = r.nulTerminated().toString('utf8');
  const connectionId = r.u32();
  const part1 = r.bytes(8);
  r.u8(); // filler
  let capabilities = r.u16();
  let charset = 0;
  let status = 0;
  let mariadbCapabilities = 0;
  let scramble = Buffer.from(part1);
  let authPlugin = 'mysql_native_password';
  if (r.remaining > 0) {
    charset = r.u8();
    status = r.u16();
    capabilities = (capabilities | (r.u16() << 16)) >>> 0;
    const authDataLength = r.u8();
    r.bytes(6);
    const ext = r.u32();
    if (!(capabilities & CAP.LONG_PASSWORD)) mariadbCapabilities = ext;
    if (capabilities & CAP.SECURE_CONNECTION) {
      const n = Math.max(13, authDataLength - 8);
      const part2 = r.bytes(Math.min(n, r.remaining));
      // part 2 ends with a NUL that is not part of the scramble
      const trimmed = part2.length && part2[part2.length - 1] === 0 ? part2.subarray(0, part2.length - 1) : part2;
      scramble = Buffer.concat([part1, trimmed]);
    }
    if (capabilities & CAP.PLUGIN_AUTH && r.remaining > 0) authPlugin = r.nulOrRest().toString('utf8');
  }
  return { type: 'greeting', serverVersion, connectionId, scramble, capabilities, mariadbCapabilities, charset, status, authPlugin };
}

export function encodeGreeting(g: Omit<Greeting, 'type'>): Buffer {
  if (g.scramble.length < 8) throw new Error('scramble too short');
  const head = Buffer.alloc(4);
  head.writeUInt32LE(g.connectionId >>> 0, 0);
  const mid = Buffer.alloc(1 + 2 + 1 + 2 + 2 + 1 + 6 + 4);
  let o = 0;
  mid[o++] = 0; // filler
  mid.writeUInt16LE(g.capabilities & 0xffff, o);
  o += 2;
  mid[o++] = g.charset;
  mid.writeUInt16LE(g.status, o);
  o += 2;
  mid.writeUInt16LE((g.capabilities >>> 16) & 0xffff, o);
  o += 2;
  mid[o++] = g.scramble.length + 1;
  o += 6;
  mid.writeUInt32LE(g.capabilities & CAP.LONG_PASSWORD ? 0 : g.mariadbCapabilities >>> 0, o);
  return Buffer.concat([
    Buffer.from([10]),
    nul(g.serverVersion),
    head,
    g.scramble.subarray(0, 8),
    mid,
    nul(g.scramble.subarray(8)),
    nul(g.authPlugin),
  ]);
}

// ---------- client handshake response (Protocol::HandshakeResponse41) ----------

export interface HandshakeResponse {
  type: 'handshake-response';
  capabilities: number;
  mariadbCapabilities: number;
  maxPacketSize: number;
  charset: number;
  username: string;
  authResponse: Buffer;
  database?: string;
  authPlugin?: string;
  /** Connection attributes, in order (keys may repeat). */
  attributes?: [string, string][];
}

export interface SslRequest {
  type: 'ssl-request';
  capabilities: number;
  mariadbCapabilities: number;
  maxPacketSize: number;
  charset: number;
}

/** A client's answer to the greeting: a full handshake response, or the 32-byte SSLRequest. */
export function parseHandshakeResponse(payload: Buffer): HandshakeResponse | SslRequest {
  const r = new Reader(payload, 'handshake response');
  const low = r.u16();
  if (!(low & CAP.PROTOCOL_41)) throw new MysqlProtocolError('malformed', 'the client uses the pre-4.1 protocol, which is not supported');
  const capabilities = (low | (r.u16() << 16)) >>> 0;
  const maxPacketSize = r.u32();
  const charset = r.u8();
  const reserved = r.bytes(23);
  const mariadbCapabilities = capabilities & CAP.LONG_PASSWORD ? 0 : reserved.readUInt32LE(19);
  if (r.remaining === 0) {
    if (!(capabilities & CAP.SSL)) throw new MysqlProtocolError('malformed', 'truncated handshake response');
    return { type: 'ssl-request', capabilities, mariadbCapabilities, maxPacketSize, charset };
  }
  const username = r.nulTerminated().toString('utf8');
  let authResponse: Buffer;
  if (capabilities & CAP.PLUGIN_AUTH_LENENC_CLIENT_DATA) authResponse = r.lenencBytes();
  else if (capabilities & CAP.SECURE_CONNECTION) authResponse = r.bytes(r.u8());
  else authResponse = r.nulTerminated();
  const out: HandshakeResponse = { type: 'handshake-response', capabilities, mariadbCapabilities, maxPacketSize, charset, username, authResponse: Buffer.from(authResponse) };
  if (capabilities & CAP.CONNECT_WITH_DB && r.remaining > 0) out.database = r.nulOrRest().toString('utf8');
  if (capabilities & CAP.PLUGIN_AUTH && r.remaining > 0) out.authPlugin = r.nulOrRest().toString('utf8');
  if (capabilities & CAP.CONNECT_ATTRS && r.remaining > 0) {
    const attrs = new Reader(r.lenencBytes(), 'connection attributes');
    const list: [string, string][] = [];
    while (attrs.remaining > 0) list.push([attrs.lenencBytes().toString('utf8'), attrs.lenencBytes().toString('utf8')]);
    out.attributes = list;
  }
  return out;
}

function responseHead(capabilities: number, mariadbCapabilities: number, maxPacketSize: number, charset: number): Buffer {
  const b = Buffer.alloc(32);
  const caps = mariadbCapabilities ? capabilities & ~CAP.LONG_PASSWORD : capabilities;
  b.writeUInt32LE(caps >>> 0, 0);
  b.writeUInt32LE(maxPacketSize >>> 0, 4);
  b[8] = charset;
  b.writeUInt32LE(mariadbCapabilities >>> 0, 28);
  return b;
}

export function encodeSslRequest(r: Omit<SslRequest, 'type'>): Buffer {
  return responseHead(r.capabilities | CAP.SSL, r.mariadbCapabilities, r.maxPacketSize, r.charset);
}

export function encodeHandshakeResponse(r: Omit<HandshakeResponse, 'type'>): Buffer {
  const parts = [responseHead(r.capabilities, r.mariadbCapabilities, r.maxPacketSize, r.charset), nul(r.username)];
  if (r.capabilities & CAP.PLUGIN_AUTH_LENENC_CLIENT_DATA) parts.push(lenencBytes(r.authResponse));
  else {
    if (r.authResponse.length > 255) throw new Error('auth response too long');
    parts.push(Buffer.from([r.authResponse.length]), r.authResponse);
  }
  if (r.capabilities & CAP.CONNECT_WITH_DB) parts.push(nul(r.database ?? ''));
  if (r.capabilities & CAP.PLUGIN_AUTH) parts.push(nul(r.authPlugin ?? ''));
  if (r.capabilities & CAP.CONNECT_ATTRS) {
    const kv = (r.attributes ?? []).flatMap(([k, v]) => [lenencBytes(Buffer.from(k, 'utf8')), lenencBytes(Buffer.from(v, 'utf8'))]);
    parts.push(lenencBytes(Buffer.concat(kv)));
  }
  return Buffer.concat(parts);
}

// ---------- OK / ERR / auth switch / auth more data ----------

export interface OkPacket {
  type: 'ok';
  /** The payload as received, to relay to the client. */
  raw: Buffer;
}

export interface ErrPacket {
  type: 'err';
  errno: number;
  sqlState: string;
  message: string;
  raw: Buffer;
}

export interface AuthSwitch {
  type: 'auth-switch';
  plugin: string;
  data: Buffer;
}

export interface AuthMoreData {
  type: 'auth-more-data';
  data: Buffer;
}

export type AuthReply = OkPacket | ErrPacket | AuthSwitch | AuthMoreData;

export function parseErr(payload: Buffer): ErrPacket {
  const r = new Reader(payload, 'ERR packet');
  r.u8();
  const errno = r.u16();
  let sqlState = 'HY000';
  if (r.remaining > 0 && payload[r.pos] === 0x23) {
    r.u8();
    sqlState = r.bytes(5).toString('latin1');
  }
  return { type: 'err', errno, sqlState, message: r.rest().toString('utf8'), raw: Buffer.from(payload) };
}

/** A server's answer during authentication. */
export function parseAuthReply(payload: Buffer): AuthReply {
  switch (payload[0]) {
    case 0x00:
      return { type: 'ok', raw: Buffer.from(payload) };
    case 0xff:
      return parseErr(payload);
    case 0xfe: {
      const r = new Reader(payload, 'auth switch request');
      r.u8();
      // A bare 0xfe is the pre-4.1 "use old passwords" request.
      if (r.remaining === 0) return { type: 'auth-switch', plugin: 'mysql_old_password', data: Buffer.alloc(0) };
      const plugin = r.nulTerminated().toString('utf8');
      // Data exactly as sent: what it means (and whether a trailing 0 is a terminator or
      // part of a random nonce, as with ed25519) depends on the plugin.
      return { type: 'auth-switch', plugin, data: Buffer.from(r.rest()) };
    }
    case 0x01:
      return { type: 'auth-more-data', data: Buffer.from(payload.subarray(1)) };
    default:
      throw new MysqlProtocolError('malformed', `unexpected packet 0x${(payload[0] ?? 0).toString(16)} during authentication`);
  }
}

export function encodeErr(errno: number, sqlState: string, message: string): Buffer {
  const head = Buffer.alloc(3);
  head[0] = 0xff;
  head.writeUInt16LE(errno, 1);
  return Buffer.concat([head, Buffer.from(`#${sqlState.padEnd(5, '0').slice(0, 5)}`, 'latin1'), Buffer.from(message, 'utf8')]);
}

/** A minimal OK (no affected rows, no insert id). */
export function encodeOk(status = 0x0002, warnings = 0): Buffer {
  const b = Buffer.from([0x00, 0x00, 0x00, 0, 0, 0, 0]);
  b.writeUInt16LE(status, 3);
  b.writeUInt16LE(warnings, 5);
  return b;
}

export function encodeAuthSwitch(plugin: string, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0xfe]), nul(plugin), nul(data)]);
}

export function encodeAuthMoreData(data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x01]), data]);
}
