// The data phase: a plain two-way byte pipe, no parsing. Backpressure is honoured in
// both directions; either side closing or failing closes the other.
//
// Between two plain sockets (TCP or Unix, the usual case) each direction reads into a
// buffer of its own (Node's onread mode, net/direct-read.ts) and writes from it: no
// allocation or stream event per chunk. A write the kernel did not take whole still
// points into that buffer, so the direction stops reading until it is flushed. TLS
// sockets and SSH channels use the stream pipe.
//
// On Linux, where the native pump is built (net/native-pump.ts), two plain sockets go to
// it instead: a C thread moves their bytes, and a filter (Redis, MySQL) sees only the
// reads its C precheck cannot pass.
import type { Socket } from 'node:net';
import { directRead, isPlainSocket } from './net/direct-read.js';
import { directWriter } from './net/direct-write.js';
import { canHandOver, handOver, nativePumpStatus, type NativeFilterSpec } from './net/native-pump.js';

export interface SpliceResult {
  bytesFromClient: number;
  bytesToClient: number;
}

/** How long a side may take to flush after its peer closed before it is destroyed. */
const LINGER_MS = 5_000;

/**
 * Read buffer per direction, held for the connection's life (2 x this per connection):
 * protocol messages are far smaller. A read that fills it means a bulk transfer (COPY,
 * a large result): reads then go to a BULK_READ_BYTES buffer until one comes back
 * short, so bulk costs a quarter of the reads, and an idle connection holds only this.
 */
export const READ_BUFFER_BYTES = 16 * 1024;
const BULK_READ_BYTES = 64 * 1024;

const EMPTY = Buffer.alloc(0);

export type ChunkFilter = ((chunk: Buffer) => Buffer[]) & {
  /** Present when the native pump can precheck this filter's reads in C. */
  native?: NativeFilterSpec;
};

function writeParts(to: Socket, parts: Buffer[]): void {
  if (parts.length === 1) {
    to.write(parts[0]!);
    return;
  }
  // Several pieces of one read (a filter's output) leave in one writev.
  to.cork();
  for (const part of parts) to.write(part);
  to.uncork();
}

function pumpStream(from: Socket, to: Socket, filter?: ChunkFilter): void {
  if (filter) {
    from.on('data', (chunk: Buffer) => {
      let ok = true;
      for (const part of filter(chunk)) ok = to.write(part) && ok;
      if (!ok) from.pause();
    });
  } else {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) from.pause();
    });
  }
  to.on('drain', () => from.resume());
}

/** The direct pump between plain sockets; false when `from` cannot read directly (the caller pumps streams). */
function pumpDirect(from: Socket, to: Socket, filter?: ChunkFilter): boolean {
  const resume = () => from.resume();
  /** Whether to keep reading: not while a write still holds bytes of the read buffer. */
  const flushedNow = (): boolean => {
    if (to.writableLength === 0) return true;
    to.write(EMPTY, resume); // called once everything before it is written
    return false;
  };
  // Straight to the handle where Node allows it (net/direct-write.ts), else Socket.write.
  const writer = directWriter(to, resume);
  const writeOne = writer ? (b: Buffer) => writer.write(b) : (b: Buffer) => (to.write(b), flushedNow());
  const writeAll = (parts: Buffer[]): boolean => {
    if (parts.length === 1) return writeOne(parts[0]!);
    writeParts(to, parts);
    return flushedNow();
  };
  const small = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  let next: Buffer | undefined;
  // No write still holds bytes of any buffer when a read happens (see flushedNow), so
  // switching between the two never overwrites pending bytes.
  const resize = (n: number, buf: Buffer) => {
    if (buf === small) {
      if (n === buf.length) next = Buffer.allocUnsafeSlow(BULK_READ_BYTES);
    } else if (n < READ_BUFFER_BYTES) next = small;
  };
  // The bytes of the last read; a read of the same size into the same buffer (a
  // request/response loop) reuses the view instead of making a new one.
  let view: Buffer = EMPTY;
  let viewOf: Buffer = EMPTY;
  const bytes = (n: number, buf: Buffer): Buffer => {
    if (buf !== viewOf || view.length !== n) {
      view = buf.subarray(0, n);
      viewOf = buf;
    }
    return view;
  };
  const onRead = filter
    ? (n: number, buf: Buffer) => {
        const more = writeAll(filter(bytes(n, buf)));
        resize(n, buf);
        return more;
      }
    : (n: number, buf: Buffer) => {
        const more = writeOne(bytes(n, buf));
        resize(n, buf);
        return more;
      };
  const nextBuffer = () => {
    const b = next;
    next = undefined;
    return b;
  };
  const buffered = directRead(from, small, onRead, nextBuffer);
  if (!buffered) return false;
  // Read as a stream before the switch: own buffers, written first.
  for (const chunk of buffered) writeParts(to, filter ? filter(chunk) : [chunk]);
  return true;
}

function pump(from: Socket, to: Socket, filter?: ChunkFilter): void {
  if (!(isPlainSocket(from) && isPlainSocket(to) && pumpDirect(from, to, filter))) pumpStream(from, to, filter);
}

function closeAfterFlush(socket: Socket): void {
  // Called on the peer's 'end' and again on its 'close': a second end() of an ending
  // socket builds an ERR_STREAM_ALREADY_FINISHED error (stack and all) for nobody.
  if (socket.destroyed || socket.writableEnded) return;
  socket.end();
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/**
 * Splices client and upstream; resolves once both are closed. `pending` bytes read
 * during the handshake are written first so nothing is lost. `clientToTarget`, when
 * given, sees every client->upstream chunk (pending bytes included).
 */
export function splice(
  client: Socket,
  upstream: Socket,
  pending: { toUpstream: Buffer; toClient: Buffer },
  clientToTarget?: ChunkFilter,
): Promise<SpliceResult> {
  return spliceNative(client, upstream, pending, clientToTarget) ?? spliceJs(client, upstream, pending, clientToTarget);
}

/** The splice through the native pump, or null where it cannot take these sockets. */
function spliceNative(client: Socket, upstream: Socket, pending: { toUpstream: Buffer; toClient: Buffer }, filter?: ChunkFilter): Promise<SpliceResult> | null {
  if ((filter && !filter.native) || !nativePumpStatus().loaded || !isPlainSocket(client) || !isPlainSocket(upstream) || !canHandOver(client) || !canHandOver(upstream)) return null;
  const toTarget = pending.toUpstream.length ? (filter ? filter(pending.toUpstream) : [pending.toUpstream]) : [];
  const toClient = pending.toClient.length ? [pending.toClient] : [];
  let done!: (fromClient: number, toClient: number) => void;
  const result = new Promise<SpliceResult>((resolve) => {
    done = (fromClient, toClientBytes) => {
      const counted = { bytesFromClient: client.bytesRead + fromClient, bytesToClient: client.bytesWritten + firstToClient + toClientBytes };
      let open = 2;
      const closed = () => {
        if (--open === 0) resolve(counted);
      };
      for (const s of [client, upstream]) {
        if (s.closed) closed();
        else {
          s.once('close', closed);
          s.destroy();
        }
      }
    };
  });
  const handed = handOver(client, upstream, { toTarget, toClient }, { done: (a, b) => done(a, b), ...(filter ? { filter } : {}) }, filter?.native);
  if (!handed) return null;
  // Bytes the pump sends the client first: counted as written to it.
  const firstToClient = handed.firstToClientBytes;
  // A JS-side error (a destroy(err) while the pump has the socket) only ends the pipe.
  for (const s of [client, upstream]) s.on('error', () => {});
  return result;
}

function spliceJs(
  client: Socket,
  upstream: Socket,
  pending: { toUpstream: Buffer; toClient: Buffer },
  clientToTarget?: ChunkFilter,
): Promise<SpliceResult> {
  return new Promise((resolve) => {
    let open = 2;
    const onClose = () => {
      if (--open === 0) resolve({ bytesFromClient: client.bytesRead, bytesToClient: client.bytesWritten });
    };
    const destroyBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', destroyBoth);
    upstream.on('error', destroyBoth);
    // Either side may have ended or closed before the splice began (a client that left
    // right after its login): its events are past, so act on its state now.
    const watch = (side: Socket, other: Socket) => {
      const closed = () => {
        closeAfterFlush(other);
        onClose();
      };
      if (side.readableEnded) closeAfterFlush(other);
      else side.on('end', () => closeAfterFlush(other));
      if (side.closed) queueMicrotask(closed);
      else side.once('close', closed);
    };
    watch(client, upstream);
    watch(upstream, client);
    if (pending.toUpstream.length) writeParts(upstream, clientToTarget ? clientToTarget(pending.toUpstream) : [pending.toUpstream]);
    if (pending.toClient.length) client.write(pending.toClient);
    pump(client, upstream, clientToTarget);
    pump(upstream, client);
    client.resume();
    upstream.resume();
  });
}
