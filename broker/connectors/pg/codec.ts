// PostgreSQL frontend/backend protocol v3: pure parse and serialize, no I/O.
// Reference: https://www.postgresql.org/docs/current/protocol-message-formats.html
import type { Parsed } from '../../net/socket-reader.js';
import { CodedError } from '../../errors.js';

/** PostgreSQL refuses startup packets above this length (src/include/libpq/pqcomm.h). */
export const MAX_STARTUP_PACKET_LENGTH = 10_000;
/** Cap for backend messages read during authentication (errors, SASL payloads, parameters). */
export const MAX_AUTH_PHASE_MESSAGE_LENGTH = 1 << 20;

export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;
export const PROTOCOL_3_0 = 196608;

export type StartupPacket =
  | { type: 'ssl-request' }
  | { type: 'gssenc-request' }
  | { type: 'cancel-request'; pid: number; secret: Buffer }
  | { type: 'startup'; protocol: number; params: Map<string, string> };

export class PgProtocolError extends CodedError {
  constructor(
    message: string,
    readonly kind: 'malformed' | 'too-large' | 'bad-length' = 'malformed',
  ) {
    super(kind === 'too-large' ? 'packet_too_large' : 'protocol_violation', message);
  }
}

/** Parse one untyped startup-phase packet from the start of buf, or null if incomplete. */
export function parseStartupPacket(buf: Buffer): Parsed<StartupPacket> | null {
  if (buf.length < 4) return null;
  const len = buf.readInt32BE(0);
  if (len < 8) throw new PgProtocolError(`invalid length of startup packet (${len})`, 'bad-length');
  if (len > MAX_STARTUP_PACKET_LENGTH)
    throw new PgProtocolError(`invalid length of startup packet (${len} bytes, at most ${MAX_STARTUP_PACKET_LENGTH})`, 'bad-length');
  if (buf.length < len) return null;
  const code = buf.readInt32BE(4);
  const body = buf.subarray(8, len);
  return { value: decodeStartupBody(code, body, len), consumed: len };
}

function decodeStartupBody(code: number, body: Buffer, len: number): StartupPacket {
  if (code === SSL_REQUEST_CODE) return expectEmpty(body, { type: 'ssl-request' });
  if (code === GSSENC_REQUEST_CODE) return expectEmpty(body, { type: 'gssenc-request' });
  if (code === CANCEL_REQUEST_CODE) {
    // Protocol 3.0 keys are 4 bytes; 3.2 allows up to 256.
    if (body.length < 8 || len > 8 + 4 + 256) throw new PgProtocolError('malformed cancel request');
    return { type: 'cancel-request', pid: body.readInt32BE(0), secret: Buffer.from(body.subarray(4)) };
  }
  const major = code >>> 16;
  if (major !== 3) throw new PgProtocolError(`unsupported frontend protocol ${major}.${code & 0xffff}: the broker speaks 3.x`);
  return { type: 'startup', protocol: code, params: decodeStartupParams(body) };
}

function expectEmpty<T>(body: Buffer, value: T): T {
  if (body.length !== 0) throw new PgProtocolError('malformed startup packet');
  return value;
}

function decodeStartupParams(body: Buffer): Map<string, string> {
  const params = new Map<string, string>();
  let pos = 0;
  for (;;) {
    const keyEnd = body.indexOf(0, pos);
    if (keyEnd < 0) throw new PgProtocolError('startup packet parameters are not NUL-terminated');
    if (keyEnd === pos) break; // the final empty name ends the list
    const valEnd = body.indexOf(0, keyEnd + 1);
    if (valEnd < 0) throw new PgProtocolError('startup packet parameter has no value');
    const key = body.toString('utf8', pos, keyEnd);
    if (params.has(key)) throw new PgProtocolError(`startup parameter '${key}' given twice`);
    params.set(key, body.toString('utf8', keyEnd + 1, valEnd));
    pos = valEnd + 1;
  }
  if (pos + 1 !== body.length) throw new PgProtocolError('trailing bytes after startup parameters');
  return params;
}

/** One typed message: a type byte and its body (without the length word). */
export interface PgMessage {
  type: string;
  body: Buffer;
  /** The whole message as received, so it can be relayed unchanged. */
  raw: Buffer;
}

/** Parse one typed message from the start of buf, or null if incomplete. */
export function parseMessage(buf: Buffer, maxLength = MAX_AUTH_PHASE_MESSAGE_LENGTH): Parsed<PgMessage> | null {
  if (buf.length < 5) return null;
  const len = buf.readInt32BE(1);
  if (len < 4) throw new PgProtocolError(`invalid message length ${len}`);
  if (len > maxLength) throw new PgProtocolError(`message of ${len} bytes exceeds the ${maxLength}-byte limit`, 'too-large');
  if (buf.length < len + 1) return null;
  const raw = buf.subarray(0, len + 1);
  return { value: { type: String.fromCharCode(buf[0]!), body: raw.subarray(5), raw }, consumed: len + 1 };
}

// ---- backend messages the broker interprets during authentication ----

export type AuthRequest =
  | { type: 'ok' }
  | { type: 'cleartext' }
  | { type: 'md5'; salt: Buffer }
  | { type: 'sasl'; mechanisms: string[] }
  | { type: 'sasl-continue'; data: Buffer }
  | { type: 'sasl-final'; data: Buffer }
  | { type: 'unsupported'; code: number; name: string };

const unsupportedAuthNames: Record<number, string> = {
  2: 'Kerberos V5',
  6: 'SCM credentials',
  7: 'GSSAPI',
  8: 'GSSAPI continue',
  9: 'SSPI',
};

export function decodeAuthRequest(body: Buffer): AuthRequest {
  if (body.length < 4) throw new PgProtocolError('short authentication request');
  const code = body.readInt32BE(0);
  const rest = body.subarray(4);
  switch (code) {
    case 0:
      return { type: 'ok' };
    case 3:
      return { type: 'cleartext' };
    case 5:
      if (rest.length !== 4) throw new PgProtocolError('malformed MD5 authentication request');
      return { type: 'md5', salt: Buffer.from(rest) };
    case 10:
      return { type: 'sasl', mechanisms: splitCStrings(rest) };
    case 11:
      return { type: 'sasl-continue', data: Buffer.from(rest) };
    case 12:
      return { type: 'sasl-final', data: Buffer.from(rest) };
    default:
      return { type: 'unsupported', code, name: unsupportedAuthNames[code] ?? `method ${code}` };
  }
}

function splitCStrings(buf: Buffer): string[] {
  const out: string[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const end = buf.indexOf(0, pos);
    if (end < 0) throw new PgProtocolError('unterminated string');
    if (end === pos) break;
    out.push(buf.toString('utf8', pos, end));
    pos = end + 1;
  }
  return out;
}

/** ErrorResponse / NoticeResponse fields keyed by their one-letter code (S, V, C, M, D, H, ...). */
export function decodeErrorFields(body: Buffer): Map<string, string> {
  const fields = new Map<string, string>();
  let pos = 0;
  while (pos < body.length && body[pos] !== 0) {
    const code = String.fromCharCode(body[pos]!);
    const end = body.indexOf(0, pos + 1);
    if (end < 0) throw new PgProtocolError('unterminated error field');
    fields.set(code, body.toString('utf8', pos + 1, end));
    pos = end + 1;
  }
  return fields;
}

export function decodeBackendKeyData(body: Buffer): { pid: number; secret: Buffer } {
  if (body.length < 8) throw new PgProtocolError('short BackendKeyData');
  return { pid: body.readInt32BE(0), secret: Buffer.from(body.subarray(4)) };
}

// ---- serializers ----

function typed(type: string, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

function cstr(s: string): Buffer {
  return Buffer.from(s + '\0', 'utf8');
}

export function encodeStartup(params: Iterable<[string, string]>, protocol = PROTOCOL_3_0): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of params) parts.push(cstr(k), cstr(v));
  parts.push(Buffer.from([0]));
  const body = Buffer.concat(parts);
  const out = Buffer.allocUnsafe(8 + body.length);
  out.writeInt32BE(8 + body.length, 0);
  out.writeInt32BE(protocol, 4);
  body.copy(out, 8);
  return out;
}

export function encodeSslRequest(): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeInt32BE(8, 0);
  out.writeInt32BE(SSL_REQUEST_CODE, 4);
  return out;
}

export function encodeCancelRequest(pid: number, secret: Buffer): Buffer {
  const out = Buffer.allocUnsafe(12 + secret.length);
  out.writeInt32BE(out.length, 0);
  out.writeInt32BE(CANCEL_REQUEST_CODE, 4);
  out.writeInt32BE(pid, 8);
  secret.copy(out, 12);
  return out;
}

export function encodePasswordMessage(password: Buffer): Buffer {
  return typed('p', Buffer.concat([password, Buffer.from([0])]));
}

export function encodeSaslInitialResponse(mechanism: string, data: Buffer): Buffer {
  const len = Buffer.allocUnsafe(4);
  len.writeInt32BE(data.length, 0);
  return typed('p', Buffer.concat([cstr(mechanism), len, data]));
}

export function encodeSaslResponse(data: Buffer): Buffer {
  return typed('p', data);
}

export function encodeAuthenticationOk(): Buffer {
  return typed('R', Buffer.from([0, 0, 0, 0]));
}

export interface ErrorFields {
  severity: 'ERROR' | 'FATAL';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

export function encodeErrorResponse(e: ErrorFields): Buffer {
  const parts = [
    Buffer.from('S'), cstr(e.severity),
    Buffer.from('V'), cstr(e.severity),
    Buffer.from('C'), cstr(e.code),
    Buffer.from('M'), cstr(e.message),
  ];
  if (e.detail) parts.push(Buffer.from('D'), cstr(e.detail));
  if (e.hint) parts.push(Buffer.from('H'), cstr(e.hint));
  parts.push(Buffer.from([0]));
  return typed('E', Buffer.concat(parts));
}

/** The single byte that answers SSLRequest / GSSENCRequest with "not supported, go on in plain text". */
export const REFUSE_ENCRYPTION = Buffer.from('N');
/** The answer to SSLRequest when the broker does TLS with the client itself. */
export const ACCEPT_ENCRYPTION = Buffer.from('S');
