// Node's `onread` mode for a socket that already exists. With `onread`, libuv reads
// straight into one buffer the socket keeps and a callback gets (bytes, buffer): no
// Buffer allocated per read, no Readable-stream push/emit per chunk. That is ~25% less
// broker CPU per message in the data phase (README, "Performance"). Node offers it only
// as a constructor option, but the broker's sockets are built before the splice (the
// listener accepts them, the handshake reads them as streams), so the three private
// symbols the option sets are found by name on a Socket instance and set here, and the
// handle is switched with its public-to-net `useUserBuffer`. checkDirectRead() (a unit
// test) fails when a Node upgrade moves them; until then an unknown shape just means
// the stream path (directRead returns false).
import * as net from 'node:net';
import * as tls from 'node:tls';

interface Symbols {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

let symbols: Symbols | null | undefined;

function findSymbols(): Symbols | null {
  if (symbols !== undefined) return symbols;
  const own = Object.getOwnPropertySymbols(new net.Socket());
  const named = (d: string) => own.find((s) => s.description === d);
  const [buffer, callback, generator] = [named('kBuffer'), named('kBufferCb'), named('kBufferGen')];
  symbols = buffer && callback && generator ? { buffer, callback, generator } : null;
  return symbols;
}

interface StreamHandle {
  useUserBuffer?(buf: Uint8Array): void;
}

const handleOf = (s: unknown): StreamHandle | undefined => (s instanceof net.Socket ? ((s as unknown as { _handle?: StreamHandle })._handle ?? undefined) : undefined);

/** A plain TCP or Unix socket (not TLS, not an SSH channel): its reads can go to a user buffer and its writes complete in the kernel. */
export function isPlainSocket(s: unknown): s is net.Socket {
  // A TLS socket's handle has useUserBuffer too, but its writes complete asynchronously.
  return !(s instanceof tls.TLSSocket) && typeof handleOf(s)?.useUserBuffer === 'function' && findSymbols() !== null;
}

/**
 * Reads of `socket` go to `onRead(n, buffer)` from now on, into `buffer` (overwritten by
 * the next read: copy what must outlive the call). Returning false stops reading until
 * socket.resume(). After each call `nextBuffer` may return the buffer for the next
 * reads (undefined: keep the current one). Bytes the stream had already buffered are
 * returned, to be handled first. End, close and error events work as before.
 */
export function directRead(
  socket: net.Socket,
  buffer: Buffer,
  onRead: (n: number, buf: Buffer) => boolean | void,
  nextBuffer?: () => Buffer | undefined,
): Buffer[] | null {
  const sym = findSymbols();
  const handle = handleOf(socket);
  if (!sym || !handle?.useUserBuffer) return null;
  const fields = socket as unknown as Record<symbol, unknown>;
  fields[sym.buffer] = buffer;
  fields[sym.callback] = onRead;
  fields[sym.generator] = nextBuffer ?? null;
  handle.useUserBuffer(buffer);
  // What the stream read before the switch (a paused socket keeps reading up to its high-water mark).
  const buffered: Buffer[] = [];
  for (let chunk: Buffer | null; socket.readableLength > 0 && (chunk = socket.read() as Buffer | null) !== null; ) buffered.push(chunk);
  return buffered;
}

/** Throws when this Node's net.Socket lacks what directRead() relies on (run by a unit test). */
export function checkDirectRead(): void {
  if (!findSymbols()) throw new Error(`Node ${process.version}: net.Socket has no kBuffer/kBufferCb/kBufferGen symbols; the data phase falls back to streams`);
}
