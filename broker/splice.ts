// The data phase: a plain two-way byte pipe, no parsing. Backpressure is honoured in
// both directions; either side closing or failing closes the other.
import type { Socket } from 'node:net';

export interface SpliceResult {
  bytesFromClient: number;
  bytesToClient: number;
}

/** How long a side may take to flush after its peer closed before it is destroyed. */
const LINGER_MS = 5_000;

function pump(from: Socket, to: Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
}

function closeAfterFlush(socket: Socket): void {
  if (socket.destroyed) return;
  socket.end();
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/**
 * Splices client and upstream; resolves once both are closed. `pending` bytes read
 * during the handshake are written first so nothing is lost.
 */
export function splice(client: Socket, upstream: Socket, pending: { toUpstream: Buffer; toClient: Buffer }): Promise<SpliceResult> {
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
    client.on('end', () => closeAfterFlush(upstream));
    upstream.on('end', () => closeAfterFlush(client));
    client.once('close', () => {
      closeAfterFlush(upstream);
      onClose();
    });
    upstream.once('close', () => {
      closeAfterFlush(client);
      onClose();
    });
    if (pending.toUpstream.length) upstream.write(pending.toUpstream);
    if (pending.toClient.length) client.write(pending.toClient);
    pump(client, upstream);
    pump(upstream, client);
    client.resume();
    upstream.resume();
  });
}
