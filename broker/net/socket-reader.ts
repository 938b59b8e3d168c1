// Reads framed messages from a socket during a handshake, before the sockets are
// spliced. Parsers are pure functions from the buffered bytes to a message (or null
// when more bytes are needed). detach() hands back whatever was read past the last
// message so no byte is lost when the data phase starts.
import type { Duplex } from 'node:stream';

export interface Parsed<T> {
  value: T;
  consumed: number;
}

export interface SocketReader {
  read<T>(parse: (buf: Buffer) => Parsed<T> | null): Promise<T>;
  /** Stop reading; returns bytes buffered past the last parsed message. The socket is left paused. */
  detach(): Buffer;
}

export interface SocketReaderOptions {
  signal: AbortSignal;
  /** Error to reject with when the peer closes mid-handshake. */
  closedError: () => Error;
  /** Error to reject with when the signal aborts. */
  abortedError: () => Error;
  /** Pause the socket when this much is buffered without being asked for. */
  highWaterMark?: number;
}

const EMPTY = Buffer.alloc(0);

export function createSocketReader(socket: Duplex, options: SocketReaderOptions): SocketReader {
  const highWater = options.highWaterMark ?? 256 * 1024;
  let buffered: Buffer = EMPTY;
  let pending: { parse: (buf: Buffer) => Parsed<unknown> | null; resolve: (v: unknown) => void; reject: (e: Error) => void } | null = null;
  let failure: Error | null = null;

  const settle = () => {
    if (!pending) return;
    const p = pending;
    // Abort wins at once; a peer close still lets already-buffered messages through.
    if (failure && options.signal.aborted) {
      pending = null;
      p.reject(failure);
      return;
    }
    let parsed: Parsed<unknown> | null;
    try {
      parsed = p.parse(buffered);
    } catch (err) {
      pending = null;
      p.reject(err as Error);
      return;
    }
    if (!parsed) {
      if (failure) {
        pending = null;
        p.reject(failure);
      } else if (socket.isPaused()) socket.resume();
      return;
    }
    pending = null;
    buffered = buffered.subarray(parsed.consumed);
    p.resolve(parsed.value);
  };
  const onData = (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    if (!pending && buffered.length >= highWater) socket.pause();
    settle();
  };
  const fail = (err: Error) => {
    failure ??= err;
    settle();
  };
  const onEnd = () => fail(options.closedError());
  const onError = (err: Error) => fail(Object.assign(options.closedError(), { cause: err }));
  const onAbort = () => fail(options.abortedError());

  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('close', onEnd);
  socket.on('error', onError);
  options.signal.addEventListener('abort', onAbort, { once: true });
  if (options.signal.aborted) onAbort();

  return {
    read<T>(parse: (buf: Buffer) => Parsed<T> | null): Promise<T> {
      if (pending) return Promise.reject(new Error('concurrent read on a socket reader'));
      return new Promise<T>((resolve, reject) => {
        pending = { parse, resolve: resolve as (v: unknown) => void, reject };
        settle();
      });
    },
    detach() {
      socket.pause();
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      options.signal.removeEventListener('abort', onAbort);
      // Copy: a view would pin the whole read buffer for the life of the connection.
      const rest = buffered.length ? Buffer.from(buffered) : EMPTY;
      buffered = EMPTY;
      return rest;
    },
  };
}
