// The native data pump (broker/native/pump.c, Linux): after login, the two plain sockets
// of a connection are handed to a C thread that moves their bytes with read and write,
// so a message costs no JS and no Node socket layer. Built by scripts/build-native.sh;
// where it is not built (or SECRETLESS_NATIVE=0) splice.ts pipes in JS.
//
// The JS sockets stay open while the pump has the connection (it works on their fds):
// they stop reading, keep their 'close' event for the end of the connection, and
// destroying one of them (an abort) asks the pump to end the connection first: the fds
// are closed only once the pump has let go of them, so no fd number is reused under it.
import { loadAddon } from './native-addon.js';
import type { Socket } from 'node:net';

interface PumpBinding {
  /** Starts the pump's threads (one per CPU, at most 4); returns how many run. */
  init(onEvent: (id: number, type: 'done' | 'filter', a: number | Buffer, b?: number) => void): number;
  add(clientFd: number, targetFd: number, filter: number, jsIdle: boolean, toTarget: Buffer | null, toClient: Buffer | null): number;
  inject(id: number, bytes: Buffer | null, jsIdle: boolean): void;
  close(id: number): void;
  ref(on: boolean): void;
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
}

let binding: PumpBinding | null | undefined;
let loadError: string | undefined;
let threads = 0;
const active = new Map<number, PumpHandlers>();

function onEvent(id: number, type: 'done' | 'filter', a: number | Buffer, b?: number): void {
  const h = active.get(id);
  if (!h) return;
  if (type === 'done') {
    active.delete(id);
    if (active.size === 0) binding!.ref(false);
    h.done(a as number, b!);
    return;
  }
  h.filter!(a as Buffer);
}

function load(): PumpBinding | null {
  if (binding !== undefined) return binding;
  const addon = loadAddon<PumpBinding>('pump');
  binding = addon.module;
  if (!addon.module) loadError = addon.reason;
  else {
    try {
      threads = addon.module.init(onEvent);
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

/**
 * Until the pump is done with `s`, destroy() (an abort, an error) asks the pump to end
 * the connection; the real destroy runs when the pump reports done. Returns the undo.
 */
function deferDestroy(s: Socket, close: () => void): () => void {
  const own = Object.prototype.hasOwnProperty.call(s, 'destroy');
  const original = s.destroy;
  s.destroy = function (this: Socket) {
    close();
    return this;
  } as Socket['destroy'];
  return () => {
    if (own) s.destroy = original;
    else delete (s as { destroy?: unknown }).destroy;
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
