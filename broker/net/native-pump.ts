// The native data pump (broker/native/pump.c, Linux): after login, the two plain sockets
// of a connection are handed to a C thread that moves their bytes with read and write,
// so a message costs no JS and no Node socket layer. Built by scripts/build-native.sh;
// where it is not built (or SECRETLESS_NATIVE=0) splice.ts pipes in JS.
//
// The JS sockets stay open while the pump has the connection (it works on their fds):
// they stop reading, keep their 'close' event for the end of the connection, and
// destroying one of them (an abort) asks the pump to end the connection first: the fds
// are closed only once the pump has let go of them, so no fd number is reused under it.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { loadAddon } from './native-addon.js';

type EventType = 'done' | 'filter' | 'records' | 'back' | 'head';

interface PumpBinding {
  /** Starts the pump's threads (one per CPU, at most 4); returns how many run. */
  init(onEvent: (id: number, type: EventType, a: number | Buffer | undefined, b?: number, c?: number) => void): number;
  add(clientFd: number, targetFd: number, filter: number, jsIdle: boolean, toTarget: Buffer | null, toClient: Buffer | null): number;
  inject(id: number, bytes: Buffer | null, jsIdle: boolean): void;
  close(id: number): void;
  ref(on: boolean): void;
  /** Absent from a module built before the HTTP lane. */
  addHttp?(clientFd: number, upstreamFd: number, prefix: Buffer, add: Buffer, drop: Buffer, credentialTtlMs: number, clientBytes: Buffer | null): number;
  httpHead(id: number, head: Buffer): void;
  httpReason(status: number, text: string): void;
}

/** A client->target filter the pump can precheck in C; JS gets only the reads it cannot pass. */
export interface NativeFilterSpec {
  kind: 'redis' | 'mysql';
  /** The JS filter is at a message boundary with nothing carried over: the C precheck may pass reads. */
  idle(): boolean;
}

const FILTER_CODE = { redis: 1, mysql: 2 } as const;

export interface PumpHandlers {
  /** The client->target bytes of a read the precheck did not pass: returns what to send instead. */
  filter?(bytes: Buffer): Buffer[];
  done(fromClient: number, toClient: number): void;
  /** HTTP pairs only (handOverHttp). */
  http?: Omit<HttpPumpHandlers, 'done'>;
}

let binding: PumpBinding | null | undefined;
let loadError: string | undefined;
let threads = 0;
const active = new Map<number, PumpHandlers>();

/** What the HTTP lane did, for tests and diagnostics: hand-overs, requests served, hand-backs by reason. */
export const httpLaneCounters = { handedOver: 0, records: 0, back: {} as Partial<Record<BackReason, number>> };

function onEvent(id: number, type: EventType, a: number | Buffer | undefined, b?: number, c?: number): void {
  if (type === 'records') {
    return void eachRecord(a as Buffer, (pairId, r) => {
      httpLaneCounters.records++;
      active.get(pairId)?.http?.record(r);
    });
  }
  const h = active.get(id);
  if (!h) return;
  switch (type) {
    case 'done':
      active.delete(id);
      if (active.size === 0) binding!.ref(false);
      return h.done(a as number, b!);
    case 'filter':
      return void h.filter!(a as Buffer);
    case 'back': {
      active.delete(id);
      if (active.size === 0) binding!.ref(false);
      const bytes = a as Buffer | undefined;
      const infoLen = c ?? 0;
      let request: HttpRecord | undefined;
      let moved: Moved = { fromClient: 0, toClient: 0 };
      if (bytes && infoLen > 0 && bytes.length >= infoLen + 16) {
        eachRecord(bytes.subarray(0, infoLen), (_, r) => (request = r));
        moved = { fromClient: bytes.readDoubleLE(infoLen), toClient: bytes.readDoubleLE(infoLen + 8) };
      }
      const rest = bytes && bytes.length > infoLen + 16 ? bytes.subarray(infoLen + 16) : undefined;
      const reason = BACK_REASONS[b!] ?? 'failed';
      httpLaneCounters.back[reason] = (httpLaneCounters.back[reason] ?? 0) + 1;
      return h.http!.back(reason, request, rest, moved);
    }
    case 'head': {
      const bytes = a as Buffer;
      const flags = b!;
      const headLen = c!;
      let head: Buffer;
      try {
        head = h.http!.head(bytes.subarray(0, headLen), flags & 4 ? bytes.toString('latin1', headLen) : undefined, (flags & 1) !== 0, (flags & 2) !== 0);
      } catch {
        return binding!.close(id);
      }
      return binding!.httpHead(id, head);
    }
  }
}

/** Why the HTTP lane gave a connection back (pump.c's BACK_* by number). */
export type BackReason =
  | 'request'
  | 'credentials'
  | 'rejected'
  | 'upstream-spent'
  | 'upstream-gone'
  | 'idle'
  | 'client-eof'
  | 'retry'
  | 'fail-closed'
  | 'fail-reset'
  | 'fail-invalid'
  | 'fail-timeout'
  | 'failed';
const BACK_REASONS: (BackReason | undefined)[] = [undefined, 'request', 'credentials', 'rejected', 'upstream-spent', 'upstream-gone', 'idle', 'client-eof', 'retry', 'fail-closed', 'fail-reset', 'fail-invalid', 'fail-timeout'];

/** Bytes the HTTP lane read from the client and wrote to it (Node's socket counters never see them). */
export interface Moved {
  fromClient: number;
  toClient: number;
}

/** One request the HTTP lane served, for the audit record. */
export interface HttpRecord {
  method: string;
  /** The target up to its query (at most 512 bytes). */
  path: string;
  /** 0 when no answer head came. */
  status: number;
  outcome: 'ok' | 'target_rejected_credentials' | 'target_protocol_error';
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
}

const OUTCOMES = ['ok', 'target_rejected_credentials', 'target_protocol_error'] as const;

/** pump.c's packed records (packRecord), in order. */
function eachRecord(buf: Buffer, fn: (id: number, r: HttpRecord) => void): void {
  let at = 0;
  while (at + 32 <= buf.length) {
    const methodLen = buf[at + 7]!;
    const pathLen = buf.readUInt32LE(at + 12);
    const text = at + 32;
    fn(buf.readUInt32LE(at), {
      status: buf.readUInt16LE(at + 4),
      outcome: OUTCOMES[buf[at + 6]!] ?? 'target_protocol_error',
      durationMs: buf.readUInt32LE(at + 8),
      bytesIn: buf.readDoubleLE(at + 16),
      bytesOut: buf.readDoubleLE(at + 24),
      method: buf.toString('latin1', text, text + methodLen),
      path: buf.toString('latin1', text + methodLen, text + methodLen + pathLen),
    });
    at = text + methodLen + pathLen;
  }
}

function load(): PumpBinding | null {
  if (binding !== undefined) return binding;
  const addon = loadAddon<PumpBinding>('pump');
  binding = addon.module;
  if (!addon.module) loadError = addon.reason;
  else {
    try {
      threads = addon.module.init(onEvent);
      if (addon.module.addHttp) for (const [code, text] of Object.entries(STATUS_CODES)) if (text) addon.module.httpReason(Number(code), text);
    } catch (err) {
      binding = null;
      loadError = (err as Error).message;
    }
  }
  return binding;
}

let enabled = true;

/** Whether the native pump is in use (and on how many threads), and why not. */
export function nativePumpStatus(): { loaded: true; threads: number } | { loaded: false; reason: string } {
  if (!enabled) return { loaded: false, reason: 'turned off' };
  return load() ? { loaded: true, threads } : { loaded: false, reason: loadError ?? 'unknown' };
}

/** Turns the pump off (or on again) for later splices: tests of the JS pipe. */
export function setNativePump(on: boolean): void {
  enabled = on;
}

interface Handle {
  fd?: number;
  reading?: boolean;
  readStop?(): number;
  readStart?(): number;
  writeQueueSize?: number;
}

const handleOf = (s: Socket): Handle | undefined => (s as unknown as { _handle?: Handle })._handle ?? undefined;

/**
 * Whether `s` can be handed over now: an open fd, nothing Node still has to write, no
 * timeout (it would fire on a socket JS no longer sees traffic on).
 */
export function canHandOver(s: Socket): boolean {
  const h = handleOf(s);
  return (
    !!h &&
    typeof h.fd === 'number' &&
    h.fd >= 0 &&
    typeof h.readStop === 'function' &&
    h.writeQueueSize === 0 &&
    s.writableLength === 0 &&
    !s.destroyed &&
    !s.readableEnded &&
    !s.writableEnded &&
    !s.timeout
  );
}

/** Stops Node reading `s` for good and returns what its stream had buffered. */
function stopReading(s: Socket): Buffer[] {
  const buffered: Buffer[] = [];
  for (let chunk: Buffer | null; s.readableLength > 0 && (chunk = s.read() as Buffer | null) !== null; ) buffered.push(chunk);
  const h = handleOf(s)!;
  h.readStop!();
  // Node restarts reads only when it thinks the handle is not reading (Socket._read).
  h.reading = true;
  return buffered;
}

/** Node reads `s` again (the HTTP lane gave it back): libuv registers the fd anew. */
function resumeReading(s: Socket): void {
  const h = handleOf(s);
  if (!h?.readStart || s.destroyed) return;
  h.reading = true;
  if (h.readStart() !== 0) s.destroy();
}

/**
 * Until the pump is done with `s`, destroy() (an abort, an error) asks the pump to end
 * the connection; the real destroy runs when the pump reports done. Returns the undo,
 * which says whether a destroy was asked for meanwhile.
 */
function deferDestroy(s: Socket, close: () => void): () => boolean {
  const own = Object.prototype.hasOwnProperty.call(s, 'destroy');
  const original = s.destroy;
  let asked = false;
  s.destroy = function (this: Socket) {
    asked = true;
    close();
    return this;
  } as Socket['destroy'];
  return () => {
    if (own) s.destroy = original;
    else delete (s as { destroy?: unknown }).destroy;
    return asked;
  };
}

export interface NativePipe {
  /** Shuts both sides down now. */
  close(): void;
}

/**
 * Hands `client` and `target` (both passing canHandOver) to the pump, with bytes to
 * send first each way (what Node had buffered is added); null when the pump is not
 * available. firstToClientBytes: what the pump sends the client before any read.
 */
export function handOver(
  client: Socket,
  target: Socket,
  first: { toTarget: Buffer[]; toClient: Buffer[] },
  handlers: PumpHandlers,
  filter?: NativeFilterSpec,
): { pipe: NativePipe; firstToClientBytes: number } | null {
  const b = enabled ? load() : null;
  if (!b) return null;
  const clientBuffered = stopReading(client);
  const targetBuffered = stopReading(target);
  const toTarget = [...first.toTarget, ...(handlers.filter && clientBuffered.length ? handlers.filter(Buffer.concat(clientBuffered)) : clientBuffered)];
  const toClient = [...first.toClient, ...targetBuffered];
  const join = (parts: Buffer[]) => (parts.length === 0 ? null : parts.length === 1 ? parts[0]! : Buffer.concat(parts));
  const id = b.add(handleOf(client)!.fd!, handleOf(target)!.fd!, filter ? FILTER_CODE[filter.kind] : 0, filter?.idle() ?? true, join(toTarget), join(toClient));
  if (active.size === 0) b.ref(true);
  const filterFn = handlers.filter;
  const close = () => b.close(id);
  const undo = [deferDestroy(client, close), deferDestroy(target, close)];
  active.set(id, {
    done(fromClient, toClient) {
      for (const u of undo) u();
      handlers.done(fromClient, toClient);
    },
    ...(filterFn && filter
      ? {
          filter(bytes: Buffer) {
            let out: Buffer[];
            try {
              out = filterFn(bytes);
            } catch {
              b.close(id);
              return [];
            }
            b.inject(id, join(out), filter.idle());
            return out;
          },
        }
      : {}),
  });
  return { pipe: { close }, firstToClientBytes: toClient.reduce((n, part) => n + part.length, 0) };
}

/** What an HTTP pair's requests become upstream (pump.c's hw_conf_t). */
export interface HttpPumpConf {
  /** The upstream's base path without its trailing slash. */
  prefix: string;
  /** `host: ...\r\n` and the credential's header lines, CRLF-terminated (latin1). */
  add: string;
  /** Lowercase request header names never sent upstream. */
  drop: Iterable<string>;
  /** How long the credential may still be used; Infinity: until the upstream refuses it. */
  credentialTtlMs: number;
}

export interface HttpPumpHandlers {
  record(r: HttpRecord): void;
  /** The client's head for an answer with a Location (JS maps it): returns it whole. */
  head(head: Buffer, host: string | undefined, closeAfter: boolean, isHead: boolean): Buffer;
  /**
   * The connection is JS's again (both sockets read by Node again): `request` is the one
   * in flight for a fail-* reason, `clientBytes` what the client sent that the lane did not use.
   */
  back(reason: BackReason, request: HttpRecord | undefined, clientBytes: Buffer | undefined, moved: Moved): void;
  /** The connection ended in the lane (both sides shut down): JS destroys the sockets. */
  done(moved: Moved): void;
}

/** Whether handOverHttp can work here (the pump is built with its HTTP lane). */
export function nativeHttpLane(): boolean {
  return enabled && !!load()?.addHttp;
}

/**
 * Hands an HTTP client connection and its kept-alive plain upstream connection (both
 * passing canHandOver, at a request boundary) to the pump's HTTP lane; null when the
 * lane is not available.
 */
export function handOverHttp(client: Socket, upstream: Socket, conf: HttpPumpConf, handlers: HttpPumpHandlers): NativePipe | null {
  const b = enabled ? load() : null;
  // An idle upstream has nothing to say: bytes waiting there are the caller's to handle.
  if (!b?.addHttp || upstream.readableLength > 0) return null;
  const clientBuffered = stopReading(client);
  stopReading(upstream);
  const id = b.addHttp(
    handleOf(client)!.fd!,
    handleOf(upstream)!.fd!,
    Buffer.from(conf.prefix, 'latin1'),
    Buffer.from(conf.add, 'latin1'),
    Buffer.from([...conf.drop].map((n) => `${n}\n`).join(''), 'latin1'),
    Number.isFinite(conf.credentialTtlMs) ? Math.max(1, conf.credentialTtlMs) : 0,
    clientBuffered.length ? Buffer.concat(clientBuffered) : null,
  );
  httpLaneCounters.handedOver++;
  if (active.size === 0) b.ref(true);
  const close = () => b.close(id);
  const undo = [deferDestroy(client, close), deferDestroy(upstream, close)];
  const restore = (): boolean => undo.map((u) => u()).some((asked) => asked);
  active.set(id, {
    done(fromClient, toClient) {
      restore();
      handlers.done({ fromClient, toClient });
    },
    http: {
      record: (r) => handlers.record(r),
      head: (head, host, closeAfter, isHead) => handlers.head(head, host, closeAfter, isHead),
      back(reason, request, bytes, moved) {
        if (restore()) {
          // Destroyed while the lane had it: the destroy runs now.
          client.destroy();
          upstream.destroy();
          return handlers.done(moved);
        }
        resumeReading(client);
        resumeReading(upstream);
        handlers.back(reason, request, bytes, moved);
      },
    },
  });
  return { close };
}
