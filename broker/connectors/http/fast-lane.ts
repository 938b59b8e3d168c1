// The fast lane of a reverse proxy to a plain-http upstream. Node's HTTP server plus
// undici's request() cost about 150 µs of CPU per small request (a Readable per answer,
// stream pipelines, header objects both ways); nginx spends about 25. Most requests are
// plain (origin-form, Content-Length or no body, no upgrade), and for those the broker
// needs no more than nginx does: read the head, rewrite it, write it to a keep-alive
// upstream connection, and pass the answer's head (rewritten) and body bytes back,
// following the framing only to find where each message ends.
//
// Anything not plain (wire.ts decides: chunked or Expect requests, upgrades, a head split
// over reads, garbage) hands the connection, at a request boundary, to Node's server and
// the undici path (proxy-request.ts), which answers 400/431/408 and handles the rest.
//
// Where the native pump has its HTTP lane (broker/native/pump.c, Linux) and the
// credential is the same headers on every request, a connection whose first request
// went well moves there at the request boundary with its upstream connection: a C
// thread rewrites each plain head and passes bodies and answers, and gives the
// connection back here, with the bytes it did not use, for anything else (fromNative).
import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { STATUS_CODES } from 'node:http';
import { BrokerError, type BrokerErrorCode } from '../../errors.js';
import { canHandOver, handOverHttp, nativeHttpLane, type BackReason, type HttpPumpHandlers, type HttpRecord, type Moved, type NativePipe } from '../../net/native-pump.js';
import type { OutgoingRequest } from './auth.js';
import type { RequestContext } from './proxy-request.js';
import { auditPath, clientHeaders, dropSetFor, mapLocationReverse, upstreamHeaders } from './request-head.js';
import { errorBody, writeRawError } from './respond.js';
import { upstreamError, type UpstreamTls } from './upstream-pool.js';
import { ChunkedTracker, parseRequestHead, parseResponseHead, serializeFields, type Framing, type ResponseHead } from './wire.js';

/** Idle upstream connections kept per service, and for how long. */
const MAX_IDLE_UPSTREAMS = 64;
const UPSTREAM_IDLE_MS = 30_000;
/** An idle keep-alive client is closed after this (as Node's server keepAliveTimeout). */
const CLIENT_IDLE_MS = 5_000;
/** The upstream must start its answer within this (as undici's headersTimeout). */
const ANSWER_TIMEOUT_MS = 300_000;
const TICK_MS = 1_000;
/** Client bytes buffered past the request being served before the client is paused. */
const MAX_BUFFERED = 64 * 1024;
/** Read buffer of a plain-http upstream connection (answers can be large: a download reads this much at a time). */
const UPSTREAM_READ_BYTES = 64 * 1024;
const EMPTY = Buffer.alloc(0);

export interface FastLane {
  /** Serves `client`; calls handOff with unread bytes when Node's parser should take over. */
  serve(client: Socket, rc: RequestContext, handOff: (pending: Buffer | undefined) => void): void;
  close(): void;
}

/** A lane for services it can serve: a reverse proxy with an auth scheme that streams bodies (not SigV4). */
export function createFastLane(rc: Pick<RequestContext, 'settings' | 'mechanism'>): FastLane | undefined {
  const mode = rc.settings.mode;
  if (mode.type !== 'reverse' || rc.mechanism.name === 'aws-sigv4') return undefined;
  const upstream = mode.upstream;
  const https = upstream.protocol === 'https:';
  const port = Number(upstream.port || (https ? 443 : 80));
  // URL keeps IPv6 literals bracketed; net.connect wants them bare.
  const host = upstream.hostname.replace(/^\[|\]$/g, '');
  const connectTimeoutMs = rc.settings.connectTimeoutMs;
  // Idle connections, keyed by the TLS material they were made with ('' for plain http).
  const idle: UpstreamConn[] = [];
  const live = new Set<FastConnection>();
  const ticker = setInterval(() => {
    for (const c of live) c.tick();
    const now = Date.now();
    for (let i = idle.length - 1; i >= 0; i--) if (now - idle[i]!.idleSince > UPSTREAM_IDLE_MS) idle[i]!.socket.destroy();
  }, TICK_MS).unref();
  const prefix = upstream.pathname.replace(/\/+$/, '');
  const lane: Lane = {
    upstream,
    base: upstream.origin + prefix,
    prefix,
    native: !https && rc.mechanism.headersOnly && nativeHttpLane(),
    drop: dropSetFor(rc.mechanism.headerNames),
    https,
    take(key) {
      for (let i = idle.length - 1; i >= 0; i--) {
        const u = idle[i]!;
        if (u.key !== key) continue;
        idle.splice(i, 1);
        if (!u.socket.destroyed) return u;
      }
      return undefined;
    },
    open(tls) {
      if (tls) {
        const socket = tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), ...tls.options }).setNoDelay(true);
        return new UpstreamConn(socket, tls.id, connectTimeoutMs, idle, false);
      }
      // Plain TCP reads into one buffer the connection keeps (Node's onread): no Buffer
      // and no stream event per answer.
      let conn: UpstreamConn | undefined;
      const buffer = Buffer.allocUnsafeSlow(UPSTREAM_READ_BYTES);
      const socket = connect({ host, port, noDelay: true, onread: { buffer, callback: (n: number, buf: Uint8Array) => conn!.onRead(Buffer.from(buf.buffer, buf.byteOffset, n)) } });
      conn = new UpstreamConn(socket, '', connectTimeoutMs, idle, true);
      return conn;
    },
    give(u) {
      u.owner = undefined;
      if (u.socket.destroyed || idle.length >= MAX_IDLE_UPSTREAMS) return void u.socket.destroy();
      u.idleSince = Date.now();
      idle.push(u);
    },
    live,
  };
  return {
    serve(client, rc, handOff) {
      new FastConnection(client, rc, lane, handOff);
    },
    close() {
      clearInterval(ticker);
      for (const u of idle.splice(0)) u.socket.destroy();
      for (const c of live) c.client.destroy();
    },
  };
}

interface Lane {
  upstream: URL;
  /** Origin and base path, without a trailing slash: a request's target is appended. */
  base: string;
  /** The base path alone. */
  prefix: string;
  /** Connections may move to the native HTTP lane. */
  native: boolean;
  /** Request header names never sent upstream. */
  drop: Set<string>;
  https: boolean;
  take(key: string): UpstreamConn | undefined;
  open(tls: UpstreamTls | undefined): UpstreamConn;
  give(u: UpstreamConn): void;
  live: Set<FastConnection>;
}

/** An upstream socket with its listeners attached once; events go to the connection that owns it. */
class UpstreamConn {
  owner: FastConnection | undefined;
  idleSince = 0;
  /** It has carried an answer before (a keep-alive connection the server may have closed since). */
  used = false;
  error: Error | undefined;

  constructor(
    readonly socket: Socket,
    /** The TLS material's id ('' for plain http): a rotated CA or client certificate needs new connections. */
    readonly key: string,
    connectTimeoutMs: number,
    idle: UpstreamConn[],
    direct: boolean,
  ) {
    socket.setTimeout(connectTimeoutMs, () => {
      const err = Object.assign(new Error('connect timed out'), { code: 'UND_ERR_CONNECT_TIMEOUT' });
      socket.destroy(err);
    });
    socket.once(key ? 'secureConnect' : 'connect', () => socket.setTimeout(0));
    if (!direct) socket.on('data', (chunk: Buffer) => void this.deliver(chunk, false));
    socket.on('drain', () => this.owner?.onUpstreamDrain());
    socket.on('end', () => this.owner?.onUpstreamEnd(this));
    socket.on('error', (err) => void (this.error = err));
    socket.on('close', () => {
      const i = idle.indexOf(this);
      if (i >= 0) idle.splice(i, 1);
      this.owner?.onUpstreamClose(this);
    });
  }

  /** A read into the connection's own buffer (valid during the call): false stops reading until it may be reused. */
  onRead(view: Buffer): boolean {
    return this.deliver(view, true);
  }

  private deliver(chunk: Buffer, transient: boolean): boolean {
    const owner = this.owner;
    if (!owner) {
      this.socket.destroy(); // an idle connection has nothing to say
      return false;
    }
    owner.onUpstreamData(chunk, transient);
    // A write to the client that still holds bytes of the read buffer: read again once it is flushed.
    if (!transient || owner.client.writableLength === 0 || owner.client.destroyed) return true;
    owner.client.write(EMPTY, () => this.socket.resume());
    return false;
  }
}

type Phase = 'idle' | 'preparing' | 'sending' | 'awaiting' | 'responding' | 'closing' | 'handed' | 'native';

class FastConnection {
  private phase: Phase = 'idle';
  private buf: Buffer | undefined;
  private up: UpstreamConn | undefined;
  private activity = 0;
  private seenActivity = 0;
  private quietTicks = 0;
  // The request being served.
  private method = '';
  private target = '';
  private requestHead = '';
  private tls: UpstreamTls | undefined;
  private bodyLeft = 0;
  private hadBody = false;
  private closeAfter = false;
  private retried = false;
  private started = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  private host: string | undefined;
  private accept: string | undefined;
  // Its answer.
  private ubuf: Buffer | undefined;
  private status = 0;
  private headSent = false;
  private framing: Framing = { type: 'none' };
  private left = 0;
  private chunks: ChunkedTracker | undefined;
  private upstreamKeepAlive = false;
  private outcome: 'ok' | BrokerErrorCode = 'ok';
  /** The last request as prepared upstream: its credential headers go to the native lane. */
  private out: OutgoingRequest | undefined;
  private pipe: NativePipe | undefined;

  constructor(
    readonly client: Socket,
    private readonly rc: RequestContext,
    private readonly lane: Lane,
    private readonly handOff: (pending: Buffer | undefined) => void,
  ) {
    lane.live.add(this);
    client.on('data', this.onClientData);
    client.on('drain', this.onClientDrain);
    client.once('close', () => {
      lane.live.delete(this);
      const up = this.up;
      this.up = undefined;
      if (!up) return;
      if (this.phase === 'idle' || this.phase === 'closing' || this.phase === 'handed') lane.give(up);
      else if (this.phase === 'native') return; // the pump's 'done' destroys it
      else {
        up.owner = undefined;
        up.socket.destroy();
      }
    });
  }

  private readonly onClientData = (chunk: Buffer): void => {
    this.activity++;
    if (this.phase === 'sending') {
      const n = Math.min(this.bodyLeft, chunk.length);
      this.forwardBody(n === chunk.length ? chunk : chunk.subarray(0, n));
      if (n === chunk.length) return;
      chunk = chunk.subarray(n);
    }
    this.buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    if (this.phase === 'idle') this.next();
    else if (this.buf.length > MAX_BUFFERED) this.client.pause();
  };

  private readonly onClientDrain = (): void => {
    if (this.phase === 'responding') this.up?.socket.resume();
  };

  onUpstreamDrain(): void {
    if (this.phase === 'sending') this.client.resume();
  }

  /** The next request in the buffer, or the hand-off when it is not a plain one. */
  private next(): void {
    const buf = this.buf;
    if (!buf || this.client.destroyed) return;
    const head = parseRequestHead(buf);
    if (head.type !== 'head') return this.giveToNode();
    this.buf = head.end < buf.length ? buf.subarray(head.end) : undefined;
    this.method = head.method;
    this.target = head.target;
    this.bodyLeft = head.contentLength;
    this.hadBody = head.contentLength > 0;
    this.closeAfter = head.close;
    this.host = head.host;
    this.accept = headerValue(head.rawHeaders, 'accept');
    this.retried = false;
    this.started = performance.now();
    this.bytesIn = 0;
    this.bytesOut = 0;
    this.status = 0;
    this.headSent = false;
    this.outcome = 'ok';
    this.phase = 'preparing';
    // One parse of the whole URL (joinUpstream's result, without its two URL copies);
    // the target is origin-form, so it can only extend the upstream's path.
    const url = new URL(this.lane.base + head.target);
    const out: OutgoingRequest = { method: head.method, url, headers: upstreamHeaders(head.rawHeaders, url, this.rc.mechanism.headerNames) };
    const clientAuthorization = headerValue(head.rawHeaders, 'authorization');
    this.rc.credentials
      .get()
      .then(async (creds) => {
        await this.rc.mechanism.apply(out, creds, clientAuthorization ? { clientAuthorization } : {});
        return this.lane.https ? this.rc.pool.tls(creds) : undefined;
      })
      .then(
        (tls) => {
          if (this.client.destroyed) return;
          this.tls = tls;
          this.out = out;
          this.requestHead = `${out.method} ${out.url.pathname}${out.url.search} HTTP/1.1\r\n${serializeFields(out.headers)}\r\n`;
          this.send();
        },
        (err: unknown) => this.fail(err),
      );
  }

  /** Node's parser takes the connection from here (the buffered bytes first). */
  private giveToNode(): void {
    this.phase = 'handed';
    this.lane.live.delete(this);
    this.client.pause();
    this.client.removeListener('data', this.onClientData);
    this.client.removeListener('drain', this.onClientDrain);
    if (this.up) {
      this.lane.give(this.up);
      this.up = undefined;
    }
    const pending = this.buf;
    this.buf = undefined;
    this.handOff(pending);
  }

  /** The rewritten head, and the body bytes already here, to an upstream connection. */
  private send(): void {
    let up = this.up;
    const key = this.tls?.id ?? '';
    if (up && (up.socket.destroyed || up.key !== key)) {
      this.lane.give(up);
      up = undefined;
    }
    if (!up) up = this.up = this.lane.take(key) ?? this.lane.open(this.tls);
    up.owner = this;
    this.ubuf = undefined;
    const s = up.socket;
    let body: Buffer | undefined;
    if (this.bodyLeft > 0 && this.buf) {
      const n = Math.min(this.bodyLeft, this.buf.length);
      body = this.buf.subarray(0, n);
      this.buf = n < this.buf.length ? this.buf.subarray(n) : undefined;
      this.bodyLeft -= n;
      this.bytesIn += n;
    }
    let ok: boolean;
    if (body) {
      s.cork();
      s.write(this.requestHead, 'latin1');
      ok = s.write(body);
      s.uncork();
    } else ok = s.write(this.requestHead, 'latin1');
    this.phase = this.bodyLeft > 0 ? 'sending' : 'awaiting';
    if (this.phase === 'sending') {
      if (!ok) this.client.pause();
      else this.client.resume();
    }
  }

  private forwardBody(part: Buffer): void {
    this.bodyLeft -= part.length;
    this.bytesIn += part.length;
    if (!this.up!.socket.write(part)) this.client.pause();
    if (this.bodyLeft === 0 && this.phase === 'sending') this.phase = 'awaiting';
  }

  /** Bytes of the answer; `transient`: they are in the connection's read buffer (copy what is kept). */
  onUpstreamData(chunk: Buffer, transient: boolean): void {
    this.activity++;
    if (this.headSent) return this.forwardAnswer(chunk, 0);
    if (this.phase !== 'awaiting' && this.phase !== 'sending') return void this.up?.socket.destroy();
    // A concatenation is the broker's own; a view of the read buffer must be copied to be kept.
    const owned = !transient || this.ubuf !== undefined;
    let buf = this.ubuf ? Buffer.concat([this.ubuf, chunk]) : chunk;
    for (;;) {
      const head = parseResponseHead(buf, this.method);
      if (head.type === 'incomplete') {
        this.ubuf = owned ? buf : Buffer.from(buf);
        return;
      }
      if (head.type === 'invalid') return this.fail(Object.assign(new Error(head.reason), { code: 'UND_ERR_SOCKET' }));
      const rest = buf.subarray(head.end);
      if (head.status < 200) {
        // An interim answer (103 Early Hints): passed on; the final one follows.
        this.client.write(`HTTP/1.1 ${head.status} ${STATUS_CODES[head.status] ?? 'Informational'}\r\n${serializeFields(clientHeaders(head.headers, (v) => v))}\r\n`, 'latin1');
        buf = rest;
        if (buf.length === 0) return void (this.ubuf = undefined);
        continue;
      }
      this.ubuf = undefined;
      this.status = head.status;
      this.framing = head.framing;
      this.upstreamKeepAlive = head.keepAlive;
      if (head.status === 401 || head.status === 403) {
        this.outcome = 'target_rejected_credentials';
        this.rc.credentials.drop();
      }
      // The body ends when the upstream closes: so does this client connection.
      if (head.framing.type === 'close' || this.bodyLeft > 0) this.closeAfter = true;
      this.left = head.framing.type === 'length' ? head.framing.bytes : 0;
      this.chunks = head.framing.type === 'chunked' ? new ChunkedTracker() : undefined;
      this.headSent = true;
      this.phase = 'responding';
      const line = answerHead(head, this.closeAfter, this.mapLocation);
      if (head.framing.type === 'none') {
        if (rest.length > 0) this.upstreamKeepAlive = false;
        this.client.write(line, 'latin1');
        return this.answered();
      }
      return this.forwardAnswer(rest, 0, line);
    }
  }

  private readonly mapLocation = (v: string): string => mapLocationReverse(v, this.lane.upstream, this.host ? `http://${this.host}` : this.rc.local);

  /** At a request boundary with nothing buffered: to the native HTTP lane, when it can take the connection. */
  private toNative(): void {
    const up = this.up;
    const out = this.out;
    if (!this.lane.native || !up || !out || this.tls || up.key !== '' || !canHandOver(this.client) || !canHandOver(up.socket)) return;
    const credentialTtlMs = this.rc.credentials.remainingMs();
    if (credentialTtlMs === undefined || credentialTtlMs <= 0) return;
    let add = `host: ${out.headers.host as string}\r\n`;
    for (const name of this.rc.mechanism.headerNames) {
      const v = out.headers[name];
      if (v !== undefined) for (const one of Array.isArray(v) ? v : [v]) add += `${name}: ${one}\r\n`;
    }
    const pipe = handOverHttp(this.client, up.socket, { prefix: this.lane.prefix, add, drop: this.lane.drop, credentialTtlMs }, this.native);
    if (!pipe) return;
    this.pipe = pipe;
    this.phase = 'native';
  }

  private readonly native: HttpPumpHandlers = {
    record: (r) => {
      this.rc.record({ method: r.method, host: this.lane.upstream.host, path: r.path, status: r.status, outcome: r.outcome, bytesIn: r.bytesIn, bytesOut: r.bytesOut, durationMs: r.durationMs });
      if (r.outcome === 'target_rejected_credentials') this.rc.credentials.drop();
    },
    head: (raw, host, closeAfter, isHead) => {
      const head = parseResponseHead(raw, isHead ? 'HEAD' : 'GET');
      if (head.type !== 'head') throw new Error('the lane sent a head wire.ts does not read');
      const map = (v: string) => mapLocationReverse(v, this.lane.upstream, host !== undefined ? `http://${host}` : this.rc.local);
      return Buffer.from(answerHead(head, closeAfter, map), 'latin1');
    },
    back: (reason, request, bytes, moved) => {
      this.countMoved(moved);
      this.fromNative(reason, request, bytes);
    },
    done: (moved) => {
      this.countMoved(moved);
      this.pipe = undefined;
      this.phase = 'closing';
      const up = this.up;
      this.up = undefined;
      if (up) {
        up.owner = undefined;
        up.socket.destroy();
      }
      this.client.destroy();
    },
  };

  /** The lane's bytes, for the connection's record (the socket's own counters never see them). */
  private countMoved(moved: Moved): void {
    this.rc.moved.fromClient += moved.fromClient;
    this.rc.moved.toClient += moved.toClient;
  }

  /** The native lane gave the connection back: carry on from where it stopped. */
  private fromNative(reason: BackReason, request: HttpRecord | undefined, bytes: Buffer | undefined): void {
    this.pipe = undefined;
    this.phase = 'idle';
    this.quietTicks = 0;
    const dropUpstream = (): void => {
      const up = this.up;
      this.up = undefined;
      if (!up) return;
      up.owner = undefined;
      up.socket.destroy();
    };
    switch (reason) {
      case 'idle':
        this.phase = 'closing';
        return void this.client.end();
      case 'upstream-spent':
      case 'upstream-gone':
      case 'retry':
        dropUpstream();
        break;
      case 'fail-closed':
      case 'fail-reset':
      case 'fail-invalid':
      case 'fail-timeout': {
        dropUpstream();
        this.method = request?.method ?? '';
        this.target = request?.path ?? '';
        this.started = performance.now() - (request?.durationMs ?? 0);
        this.bytesIn = request?.bytesIn ?? 0;
        this.bytesOut = 0;
        this.status = 0;
        this.headSent = false;
        this.outcome = 'ok';
        const [message, code] =
          reason === 'fail-reset' ? ['read ECONNRESET', 'ECONNRESET']
          : reason === 'fail-timeout' ? ['timeout', 'UND_ERR_HEADERS_TIMEOUT']
          : reason === 'fail-invalid' ? ['malformed answer head', 'UND_ERR_SOCKET']
          : ['closed', 'UND_ERR_SOCKET'];
        return this.fail(Object.assign(new Error(message), { code }));
      }
      case 'failed':
        dropUpstream();
        return void this.client.destroy();
    }
    if (bytes) this.buf = this.buf ? Buffer.concat([this.buf, bytes]) : bytes;
    if (this.buf) this.next();
  }

  /** Answer body bytes to the client, up to where the framing says the answer ends. */
  private forwardAnswer(chunk: Buffer, from: number, head?: string): void {
    let end = chunk.length;
    let done = false;
    if (this.framing.type === 'length') {
      if (end - from >= this.left) {
        end = from + this.left;
        done = true;
      }
      this.left -= end - from;
      this.bytesOut += end - from;
    } else if (this.framing.type === 'chunked') {
      let at: number;
      const before = this.chunks!.dataBytes;
      try {
        at = this.chunks!.feed(chunk, from);
      } catch {
        // Malformed framing mid-answer: nothing sensible can follow.
        this.outcome = 'target_protocol_error';
        this.record();
        this.up?.socket.destroy();
        return void this.client.destroy();
      }
      this.bytesOut += this.chunks!.dataBytes - before;
      if (at >= 0) {
        end = at;
        done = true;
      }
    } else this.bytesOut += end - from;
    const part = from === 0 && end === chunk.length ? chunk : chunk.subarray(from, end);
    // The head and a small body leave in one write (one system call, no writev bookkeeping).
    let ok: boolean;
    if (head === undefined) ok = part.length === 0 || this.client.write(part);
    else if (part.length === 0) ok = this.client.write(head, 'latin1');
    else if (part.length <= 16 * 1024) {
      const whole = Buffer.allocUnsafe(head.length + part.length);
      whole.write(head, 0, 'latin1');
      part.copy(whole, head.length);
      ok = this.client.write(whole);
    } else {
      this.client.cork();
      this.client.write(head, 'latin1');
      ok = this.client.write(part);
      this.client.uncork();
    }
    if (!ok) this.up?.socket.pause();
    if (done) {
      if (end < chunk.length) this.upstreamKeepAlive = false;
      this.answered();
    }
  }

  /** The answer is complete: record it, then the next request (or close, as asked). */
  private answered(): void {
    this.record();
    this.headSent = false;
    const up = this.up;
    if (up) {
      up.used = true;
      up.socket.resume();
      if (!this.upstreamKeepAlive || this.bodyLeft > 0) {
        up.owner = undefined;
        up.socket.destroy();
        this.up = undefined;
      }
    }
    if (this.closeAfter) {
      this.phase = 'closing';
      this.client.end();
      return;
    }
    this.phase = 'idle';
    this.client.resume();
    if (this.buf) this.next();
    else this.toNative();
  }

  onUpstreamEnd(up: UpstreamConn): void {
    // A close-delimited body is complete when the upstream ends it.
    if (this.phase === 'responding' && this.framing.type === 'close' && up === this.up) {
      up.owner = undefined;
      this.up = undefined;
      this.answered();
    }
  }

  onUpstreamClose(up: UpstreamConn): void {
    if (up !== this.up) return;
    this.up = undefined;
    up.owner = undefined;
    if (this.phase === 'idle' || this.phase === 'closing') return;
    if (this.phase === 'responding') {
      // Cut off mid-answer: the client must not take a short body for a whole one.
      this.outcome = 'target_protocol_error';
      this.record();
      return void this.client.destroy();
    }
    // A kept-alive connection the server closed just as the request went out: once more
    // on a fresh connection when nothing of the body was consumed.
    if (up.used && !this.retried && !this.hadBody && !this.ubuf && (this.phase === 'awaiting' || this.phase === 'sending')) {
      this.retried = true;
      return this.send();
    }
    this.fail(up.error ?? Object.assign(new Error('closed'), { code: 'UND_ERR_SOCKET' }));
  }

  /** An error answer in the catalog's terms (before any answer was sent), then close. */
  private fail(err: unknown): void {
    if (this.up) {
      this.up.owner = undefined;
      this.up.socket.destroy();
      this.up = undefined;
    }
    const host = this.lane.upstream.host;
    const e = err instanceof BrokerError ? err : upstreamError(err, host);
    this.outcome = e.code;
    if (e.code === 'internal') this.rc.ctx.logger.error('http request failed', { reason: (err as Error)?.message ?? String(err) });
    else this.rc.ctx.logger.info('http request failed', { code: e.code, reason: e.message });
    if (this.headSent) {
      this.record();
      return void this.client.destroy();
    }
    this.status = e.entry.httpStatus;
    this.record();
    this.phase = 'closing';
    writeRawError(this.client, errorBody(e), this.accept);
  }

  private record(): void {
    this.rc.record({
      method: this.method,
      host: this.lane.upstream.host,
      path: auditPath(this.target),
      status: this.status,
      outcome: this.outcome,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      durationMs: Math.round(performance.now() - this.started),
    });
  }

  /** Once a second: idle keep-alive clients close, an upstream that never answers times out. */
  tick(): void {
    if (this.phase === 'native') return; // the lane keeps its own time
    if (this.activity !== this.seenActivity) {
      this.seenActivity = this.activity;
      this.quietTicks = 0;
      return;
    }
    this.quietTicks++;
    if (this.phase === 'idle' && !this.buf && this.quietTicks * TICK_MS >= CLIENT_IDLE_MS) this.client.end();
    else if (this.phase === 'awaiting' && this.quietTicks * TICK_MS >= ANSWER_TIMEOUT_MS) this.fail(Object.assign(new Error('timeout'), { code: 'UND_ERR_HEADERS_TIMEOUT' }));
  }
}

/** The client's head for an answer: hop-by-hop fields out, Location mapped, framing as decided. */
function answerHead(head: Extract<ResponseHead, { type: 'head' }>, closeAfter: boolean, mapLocation: (v: string) => string): string {
  const headers = clientHeaders(head.headers, mapLocation);
  if (head.framing.type === 'chunked') headers['transfer-encoding'] = 'chunked';
  if (closeAfter) headers.connection = 'close';
  return `HTTP/1.1 ${head.status} ${STATUS_CODES[head.status] ?? 'Unknown'}\r\n${serializeFields(headers)}\r\n`;
}

function headerValue(rawHeaders: string[], name: string): string | undefined {
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.length === name.length && rawHeaders[i]!.toLowerCase() === name) return rawHeaders[i + 1];
  return undefined;
}
