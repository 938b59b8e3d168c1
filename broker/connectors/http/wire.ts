// HTTP/1.1 message heads and body framing for the fast lane (fast-lane.ts), as pure
// functions over bytes. Deliberately narrow: a request head is accepted only in its
// plainest form (HTTP/1.1, origin-form target, a common method, no Transfer-Encoding,
// Upgrade or Expect, at most one valid Content-Length); anything else is `other` and
// the connection goes to Node's own HTTP parser, which answers 400/431/408 and handles
// the rest. Being stricter than both Node and the upstream is what keeps a proxy from
// reading a request's end differently than the server does (request smuggling).

/** Largest head the fast lane parses; Node's parser takes over beyond it (431 above 32 KiB). */
export const MAX_FAST_HEAD_BYTES = 16 * 1024;

const CRLFCRLF = Buffer.from('\r\n\r\n');
// No '#' (a fragment has no business in a request) and no '\\' (URL parsers read it as '/').
const REQUEST_LINE = /^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) (\/[!-"$-[\]-~]*) HTTP\/1\.1$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-5]\d\d)(?: ([^\0-\x08\x0a-\x1f\x7f]*))?$/;
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Control characters other than HTAB: never in a field value (a bare LF would split a line). */
const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;
const DIGITS = /^\d{1,15}$/;

export type RequestHead =
  | { type: 'incomplete' }
  /** Not the plain case: Node's parser should have the connection. */
  | { type: 'other' }
  | {
      type: 'head';
      method: string;
      target: string;
      /** Node's flat [name, value, ...] as the client spelled the names. */
      rawHeaders: string[];
      host: string | undefined;
      contentLength: number;
      /** The client asked to close after this answer (Connection: close). */
      close: boolean;
      /** Offset just past the head's blank line. */
      end: number;
    };

export function parseRequestHead(buf: Buffer): RequestHead {
  const at = buf.indexOf(CRLFCRLF);
  if (at < 0) return buf.length > MAX_FAST_HEAD_BYTES ? { type: 'other' } : { type: 'incomplete' };
  if (at > MAX_FAST_HEAD_BYTES) return { type: 'other' };
  const lines = buf.toString('latin1', 0, at).split('\r\n');
  const m = REQUEST_LINE.exec(lines[0]!);
  if (!m) return { type: 'other' };
  const rawHeaders: string[] = [];
  let contentLength = -1;
  let host: string | undefined;
  let close = false;
  for (let i = 1; i < lines.length; i++) {
    const field = splitField(lines[i]!);
    if (!field) return { type: 'other' };
    const [name, value] = field;
    switch (name.toLowerCase()) {
      case 'content-length':
        if (contentLength >= 0 || !DIGITS.test(value)) return { type: 'other' };
        contentLength = Number(value);
        break;
      case 'transfer-encoding':
      case 'upgrade':
      case 'expect':
        return { type: 'other' };
      case 'host':
        if (host !== undefined) return { type: 'other' };
        host = value;
        break;
      case 'connection':
        for (const token of value.toLowerCase().split(',')) {
          const t = token.trim();
          if (t === 'close') close = true;
          else if (t === 'upgrade') return { type: 'other' };
        }
        break;
    }
    rawHeaders.push(name, value);
  }
  return { type: 'head', method: m[1]!, target: m[2]!, rawHeaders, host, contentLength: Math.max(contentLength, 0), close, end: at + 4 };
}

/** `name: value` with the value's surrounding whitespace trimmed; undefined when malformed. */
function splitField(line: string): [string, string] | undefined {
  const colon = line.indexOf(':');
  if (colon <= 0) return undefined;
  const name = line.slice(0, colon);
  let from = colon + 1;
  let to = line.length;
  while (from < to && (line.charCodeAt(from) === 0x20 || line.charCodeAt(from) === 0x09)) from++;
  while (to > from && (line.charCodeAt(to - 1) === 0x20 || line.charCodeAt(to - 1) === 0x09)) to--;
  const value = line.slice(from, to);
  if (!FIELD_NAME.test(name) || BAD_VALUE.test(value)) return undefined;
  return [name, value];
}

/** How a response's body ends (RFC 9112 section 6.3). */
export type Framing = { type: 'none' } | { type: 'length'; bytes: number } | { type: 'chunked' } | { type: 'close' };

export type ResponseHead =
  | { type: 'incomplete' }
  | { type: 'invalid'; reason: string }
  | {
      type: 'head';
      status: number;
      /** Lowercase names; repeated fields as arrays (as undici gives them). */
      headers: Record<string, string | string[]>;
      framing: Framing;
      /** The upstream keeps the connection open after this answer. */
      keepAlive: boolean;
      end: number;
    };

export function parseResponseHead(buf: Buffer, requestMethod: string): ResponseHead {
  const at = buf.indexOf(CRLFCRLF);
  if (at < 0) return buf.length > 64 * 1024 ? { type: 'invalid', reason: 'response head larger than 64 KiB' } : { type: 'incomplete' };
  const lines = buf.toString('latin1', 0, at).split('\r\n');
  const m = STATUS_LINE.exec(lines[0]!);
  if (!m) return { type: 'invalid', reason: 'malformed status line' };
  const status = Number(m[2]);
  const headers: Record<string, string | string[]> = {};
  for (let i = 1; i < lines.length; i++) {
    const field = splitField(lines[i]!);
    if (!field) return { type: 'invalid', reason: 'malformed header field' };
    const name = field[0].toLowerCase();
    const prev = headers[name];
    headers[name] = prev === undefined ? field[1] : Array.isArray(prev) ? [...prev, field[1]] : [prev, field[1]];
  }
  const connection = typeof headers.connection === 'string' ? headers.connection.toLowerCase() : '';
  let keepAlive = m[1] === '1' ? !/(^|,)\s*close\s*($|,)/.test(connection) : /(^|,)\s*keep-alive\s*($|,)/.test(connection);
  let framing: Framing;
  const te = headers['transfer-encoding'];
  const cl = headers['content-length'];
  if (requestMethod === 'HEAD' || status < 200 || status === 204 || status === 304) framing = { type: 'none' };
  else if (te !== undefined) {
    if (te !== 'chunked' && te.toString().toLowerCase() !== 'chunked') return { type: 'invalid', reason: 'unsupported transfer-encoding' };
    if (cl !== undefined) return { type: 'invalid', reason: 'both content-length and transfer-encoding' };
    framing = { type: 'chunked' };
  } else if (cl !== undefined) {
    if (typeof cl !== 'string' || !DIGITS.test(cl)) return { type: 'invalid', reason: 'invalid content-length' };
    framing = { type: 'length', bytes: Number(cl) };
  } else {
    framing = { type: 'close' };
    keepAlive = false;
  }
  return { type: 'head', status, headers, framing, keepAlive, end: at + 4 };
}

/**
 * Follows a chunked body (RFC 9112 section 7.1) as its bytes pass, without changing
 * them, to find where it ends: chunk sizes, extensions, trailer fields.
 */
export class ChunkedTracker {
  private state: 'size' | 'ext' | 'size-lf' | 'data' | 'data-cr' | 'data-lf' | 'trailer' | 'trailer-lf' | 'done' = 'size';
  private remaining = 0;
  private digits = 0;
  private lineBytes = 0;
  /** Payload bytes seen (without the framing), for audit. */
  dataBytes = 0;

  /**
   * Consumes `buf[from..]`; returns the offset just past the body's end, -1 when it needs
   * more bytes, or throws on malformed framing.
   */
  feed(buf: Buffer, from = 0): number {
    let i = from;
    while (i < buf.length) {
      const c = buf[i]!;
      switch (this.state) {
        case 'size': {
          const v = hexValue(c);
          if (v >= 0) {
            if (++this.digits > 12) throw new Error('chunk size too large');
            this.remaining = this.remaining * 16 + v;
          } else if (this.digits > 0 && (c === 0x3b || c === 0x20 || c === 0x09)) this.state = 'ext';
          else if (this.digits > 0 && c === 0x0d) this.state = 'size-lf';
          else throw new Error('malformed chunk size');
          i++;
          break;
        }
        case 'ext':
          if (c === 0x0d) this.state = 'size-lf';
          else if (c === 0x0a || ++this.lineBytes > 4096) throw new Error('malformed chunk extension');
          i++;
          break;
        case 'size-lf':
          if (c !== 0x0a) throw new Error('malformed chunk size line');
          i++;
          this.lineBytes = 0;
          this.state = this.remaining === 0 ? 'trailer' : 'data';
          break;
        case 'data': {
          const take = Math.min(this.remaining, buf.length - i);
          i += take;
          this.remaining -= take;
          this.dataBytes += take;
          if (this.remaining === 0) this.state = 'data-cr';
          break;
        }
        case 'data-cr':
          if (c !== 0x0d) throw new Error('chunk data longer than its size');
          i++;
          this.state = 'data-lf';
          break;
        case 'data-lf':
          if (c !== 0x0a) throw new Error('malformed chunk end');
          i++;
          this.digits = 0;
          this.state = 'size';
          break;
        case 'trailer':
          // A trailer field line, or the empty line that ends the body.
          if (c === 0x0d) this.state = 'trailer-lf';
          else if (c === 0x0a || ++this.lineBytes > 16 * 1024) throw new Error('malformed trailer');
          i++;
          break;
        case 'trailer-lf':
          if (c !== 0x0a) throw new Error('malformed trailer line');
          i++;
          if (this.lineBytes === 0) {
            this.state = 'done';
            return i;
          }
          this.lineBytes = 0;
          this.state = 'trailer';
          break;
        case 'done':
          return i;
      }
    }
    return -1;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** `name: value` lines for a head; values are already free of CR, LF and NUL. */
export function serializeFields(headers: Record<string, string | string[]>): string {
  let out = '';
  for (const name in headers) {
    const value = headers[name]!;
    if (typeof value === 'string') out += `${name}: ${value}\r\n`;
    else for (const v of value) out += `${name}: ${v}\r\n`;
  }
  return out;
}
