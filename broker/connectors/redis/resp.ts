// RESP (REdis Serialization Protocol) codec, pure: command encoding, a reply parser
// for RESP2 and RESP3 (used only during the broker's own login), error lines, and the
// integer/argument rules Redis itself applies to requests (string2ll, sdssplitargs), so
// that the data-phase scanner splits a request stream exactly where the server does.
import type { Parsed } from '../../net/socket-reader.js';

export type RespValue =
  | { type: 'simple'; value: string }
  | { type: 'error'; value: string }
  | { type: 'integer'; value: bigint }
  | { type: 'bulk'; value: Buffer }
  | { type: 'null' }
  | { type: 'array'; value: RespValue[] }
  | { type: 'map'; value: [RespValue, RespValue][] }
  | { type: 'push'; value: RespValue[] }
  | { type: 'scalar'; value: string };

export class RespProtocolError extends Error {
  override name = 'RespProtocolError';
}

const CRLF = Buffer.from('\r\n');
const MAX_DEPTH = 32;
const MAX_LINE = 64 * 1024;

/** `*N $len arg ...` as the clients send it. */
export function encodeCommand(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const b = typeof arg === 'string' ? Buffer.from(arg) : arg;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, CRLF);
  }
  return Buffer.concat(parts);
}

/** An error reply line: `-PREFIX message`; line breaks would end the reply early, so they become spaces. */
export function encodeError(prefix: string, message: string): Buffer {
  return Buffer.from(`-${prefix} ${message.replace(/[\r\n]+/g, ' ')}\r\n`);
}

/** Text of a reply for messages (errors and simple strings as they are, others summarised). */
export function replyText(v: RespValue): string {
  switch (v.type) {
    case 'simple':
    case 'error':
    case 'scalar':
      return v.value;
    case 'integer':
      return String(v.value);
    case 'bulk':
      return v.value.toString('utf8');
    case 'null':
      return '(nil)';
    default:
      return `(${v.type} of ${v.value.length})`;
  }
}

/** Redis's string2ll: an optional '-', then digits without leading zeros ("0" alone is fine); null when invalid. */
export function string2ll(buf: Buffer, start: number, end: number): bigint | null {
  const len = end - start;
  if (len <= 0 || len > 20) return null;
  if (len === 1 && buf[start] === 0x30) return 0n;
  let i = start;
  let negative = false;
  if (buf[i] === 0x2d) {
    negative = true;
    i++;
    if (i === end) return null;
  }
  if (buf[i]! < 0x31 || buf[i]! > 0x39) return null;
  let v = 0n;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c < 0x30 || c > 0x39) return null;
    v = v * 10n + BigInt(c - 0x30);
  }
  if (negative ? v > 9223372036854775808n : v > 9223372036854775807n) return null;
  return negative ? -v : v;
}

/** A small non-negative-or-negative integer from a header, as a number (lengths and counts). */
export function headerInt(buf: Buffer, start: number, end: number): number | null {
  // Fast path for the common case: 1-9 plain digits.
  const len = end - start;
  if (len >= 1 && len <= 9 && buf[start] !== 0x2d && (buf[start] !== 0x30 || len === 1)) {
    let v = 0;
    for (let i = start; i < end; i++) {
      const c = buf[i]! - 0x30;
      if (c < 0 || c > 9) return null;
      v = v * 10 + c;
    }
    return v;
  }
  const big = string2ll(buf, start, end);
  if (big === null) return null;
  return big > 2147483647n ? Number.MAX_SAFE_INTEGER : big < -2147483648n ? -Number.MAX_SAFE_INTEGER : Number(big);
}

const isSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);
const isHex = (c: number): boolean => (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
const hexVal = (c: number): number => (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10);
const ESCAPES: Record<number, number> = { 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09, 0x62: 0x08, 0x61: 0x07 };

/**
 * Redis's sdssplitargs (inline commands): words separated by blanks, "double" quotes with
 * escapes, 'single' quotes; null on unbalanced quotes. It works on a C string, so a NUL
 * byte ends the line, as in the server.
 */
export function splitArgs(line: Buffer): Buffer[] | null {
  const nul = line.indexOf(0);
  const n = nul === -1 ? line.length : nul;
  const at = (i: number): number => (i < n ? line[i]! : 0);
  const args: Buffer[] = [];
  let i = 0;
  for (;;) {
    while (i < n && isSpace(at(i))) i++;
    if (i >= n) return args;
    const cur: number[] = [];
    let inq = false; // "..."
    let insq = false; // '...'
    let done = false;
    while (!done) {
      const c = at(i);
      if (inq) {
        if (c === 0x5c && at(i + 1) === 0x78 && isHex(at(i + 2)) && isHex(at(i + 3))) {
          cur.push(hexVal(at(i + 2)) * 16 + hexVal(at(i + 3)));
          i += 3;
        } else if (c === 0x5c && at(i + 1) !== 0) {
          i++;
          cur.push(ESCAPES[at(i)] ?? at(i));
        } else if (c === 0x22) {
          // The closing quote must be followed by a blank or nothing at all.
          if (at(i + 1) !== 0 && !isSpace(at(i + 1))) return null;
          done = true;
        } else if (c === 0) return null;
        else cur.push(c);
      } else if (insq) {
        if (c === 0x5c && at(i + 1) === 0x27) {
          i++;
          cur.push(0x27);
        } else if (c === 0x27) {
          if (at(i + 1) !== 0 && !isSpace(at(i + 1))) return null;
          done = true;
        } else if (c === 0) return null;
        else cur.push(c);
      } else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0) {
        done = true;
      } else if (c === 0x22) inq = true;
      else if (c === 0x27) insq = true;
      else cur.push(c);
      if (c !== 0) i++;
    }
    args.push(Buffer.from(cur));
  }
}

/** Index of the CR of the first CRLF-terminated line at `start`, or -1 when incomplete. */
function lineEnd(buf: Buffer, start: number): number {
  const cr = buf.indexOf(0x0d, start);
  if (cr === -1 || cr + 1 >= buf.length) {
    if (buf.length - start > MAX_LINE) throw new RespProtocolError('reply line too long');
    return -1;
  }
  if (buf[cr + 1] !== 0x0a) throw new RespProtocolError('reply line not terminated by CRLF');
  return cr;
}

function parseAt(buf: Buffer, start: number, depth: number): { value: RespValue; end: number } | null {
  if (start >= buf.length) return null;
  if (depth > MAX_DEPTH) throw new RespProtocolError('reply nested too deeply');
  const cr = lineEnd(buf, start + 1);
  if (cr === -1) return null;
  const line = buf.toString('utf8', start + 1, cr);
  const next = cr + 2;
  const count = (): number => {
    const n = string2ll(buf, start + 1, cr);
    if (n === null || n > 1_000_000n) throw new RespProtocolError(`invalid length '${line}'`);
    return Number(n);
  };
  const aggregate = (n: number): { items: RespValue[]; end: number } | null => {
    const items: RespValue[] = [];
    let at = next;
    for (let k = 0; k < n; k++) {
      const item = parseAt(buf, at, depth + 1);
      if (!item) return null;
      items.push(item.value);
      at = item.end;
    }
    return { items, end: at };
  };
  switch (buf[start]) {
    case 0x2b: // +
      return { value: { type: 'simple', value: line }, end: next };
    case 0x2d: // -
      return { value: { type: 'error', value: line }, end: next };
    case 0x3a: {
      // :
      const v = string2ll(buf, start + 1, cr);
      if (v === null) throw new RespProtocolError(`invalid integer '${line}'`);
      return { value: { type: 'integer', value: v }, end: next };
    }
    case 0x24: // $ bulk string
    case 0x21: // ! blob error
    case 0x3d: {
      // = verbatim string
      const n = count();
      if (n < 0) return { value: { type: 'null' }, end: next };
      if (buf.length < next + n + 2) return null;
      const body = buf.subarray(next, next + n);
      const value: RespValue = buf[start] === 0x21 ? { type: 'error', value: body.toString('utf8') } : { type: 'bulk', value: Buffer.from(body) };
      return { value, end: next + n + 2 };
    }
    case 0x2a: // * array
    case 0x7e: // ~ set
    case 0x3e: {
      // > push
      const n = count();
      if (n < 0) return { value: { type: 'null' }, end: next };
      const agg = aggregate(n);
      if (!agg) return null;
      return { value: buf[start] === 0x3e ? { type: 'push', value: agg.items } : { type: 'array', value: agg.items }, end: agg.end };
    }
    case 0x25: // % map
    case 0x7c: {
      // | attribute: skipped, the reply follows it
      const n = count();
      const agg = aggregate(n * 2);
      if (!agg) return null;
      if (buf[start] === 0x7c) return parseAt(buf, agg.end, depth + 1);
      const pairs: [RespValue, RespValue][] = [];
      for (let k = 0; k < agg.items.length; k += 2) pairs.push([agg.items[k]!, agg.items[k + 1]!]);
      return { value: { type: 'map', value: pairs }, end: agg.end };
    }
    case 0x5f: // _ null
      return { value: { type: 'null' }, end: next };
    case 0x23: // # boolean
    case 0x2c: // , double
    case 0x28: // ( big number
      return { value: { type: 'scalar', value: line }, end: next };
    default:
      throw new RespProtocolError(`unexpected reply type byte 0x${buf[start]!.toString(16)}`);
  }
}

/** SocketReader parser: one complete reply, or null when more bytes are needed. Throws RespProtocolError on garbage. */
export function parseReply(buf: Buffer): Parsed<RespValue> | null {
  const r = parseAt(buf, 0, 0);
  return r ? { value: r.value, consumed: r.end } : null;
}

/** A map-or-flat-array reply (HELLO answers with a map in RESP3, a flat array in RESP2) as key -> value. */
export function replyFields(v: RespValue): Map<string, RespValue> {
  const out = new Map<string, RespValue>();
  if (v.type === 'map') for (const [k, val] of v.value) out.set(replyText(k), val);
  else if (v.type === 'array') for (let i = 0; i + 1 < v.value.length; i += 2) out.set(replyText(v.value[i]!), v.value[i + 1]!);
  return out;
}
