// The data phase: a plain two-way byte pipe, no parsing. Backpressure is honoured in
// both directions; either side closing or failing closes the other.
import type { Socket } from 'node:net';

export interface SpliceResult {
  bytesFromClient: number;
  bytesToClient: number;
}

/** How long a side may take to flush after its peer closed before it is destroyed. */
const LINGER_MS = 5_000;

export type ChunkFilter = (chunk: Buffer) => Buffer[];

function pump(from: Socket, to: Socket, filter?: ChunkFilter): void {
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

function closeAfterFlush(socket: Socket): void {
  if (socket.destroyed) return;
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
    if (pending.toUpstream.length) for (const part of clientToTarget ? clientToTarget(pending.toUpstream) : [pending.toUpstream]) upstream.write(part);
    if (pending.toClient.length) client.write(pending.toClient);
    pump(client, upstream, clientToTarget);
    pump(upstream, client);
    client.resume();
    upstream.resume();
  });
}
