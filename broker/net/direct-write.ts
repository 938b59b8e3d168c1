// Writes straight to a plain socket's handle, the counterpart of direct-read.ts. A
// Socket.write costs a new WriteWrap (a C++ object) plus the Writable's bookkeeping per
// call: about 1.8 k of the broker's instructions per message and direction. Here one
// WriteWrap per socket is reused while the kernel takes each write whole (a write that
// completes at once never hands the object to C++) and the handle's writeBuffer is
// called as net.Socket does it. The WriteWrap class and the write-result array come from
// the stream_wrap binding by name; checkDirectWrite() (a unit test) fails when a Node
// upgrade moves them, and until then an unknown shape means Socket.write.
import type * as net from 'node:net';
import { getSystemErrorName } from 'node:util';

interface WriteReq {
  oncomplete?: (status: number) => void;
  /** Keeps the bytes alive while libuv still holds a pointer into them. */
  buffer?: Buffer | null;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}

interface WriteHandle {
  writeBuffer(req: WriteReq, buf: Buffer): number;
}

let binding: StreamWrapBinding | null | undefined;

function findBinding(): StreamWrapBinding | null {
  if (binding !== undefined) return binding;
  binding = null;
  try {
    const b = (process as unknown as { binding(name: string): Partial<StreamWrapBinding> }).binding('stream_wrap');
    if (typeof b.WriteWrap === 'function' && b.streamBaseState instanceof Int32Array && Number.isInteger(b.kLastWriteWasAsync)) binding = b as StreamWrapBinding;
  } catch {
    // No process.binding (a future Node, a sandbox): Socket.write it is.
  }
  return binding;
}

/** What the Writable side of a socket holds; a direct write must not overtake it. */
interface WritableState {
  length: number;
  corked: number;
  ended: boolean;
  destroyed: boolean;
}

export interface DirectWriter {
  /**
   * Writes `buf`; true when the kernel took all of it now. False: the bytes (still
   * pointing into `buf`) go out later and `onFlushed` runs once they have, unless the
   * write fails, which destroys the socket. The caller stops producing until then.
   */
  write(buf: Buffer): boolean;
}

function writeError(status: number): Error {
  const code = getSystemErrorName(status);
  return Object.assign(new Error(`write ${code}`), { code, errno: status, syscall: 'write' });
}

/**
 * A direct writer for `socket` (a plain TCP or Unix socket, see isPlainSocket), or null
 * where this Node's internals are not the expected ones or the socket has a timeout (a
 * write through the handle would not refresh it). While the socket's own Writable holds
 * anything (corked, buffered, ended, destroyed), writes go through Socket.write so that
 * they stay in order and keep its errors.
 */
export function directWriter(socket: net.Socket, onFlushed: () => void): DirectWriter | null {
  const b = findBinding();
  const handle = (socket as unknown as { _handle?: Partial<WriteHandle> | null })._handle;
  const state = (socket as unknown as { _writableState?: Partial<WritableState> })._writableState;
  if (!b || typeof handle?.writeBuffer !== 'function' || typeof state?.length !== 'number' || typeof state.destroyed !== 'boolean' || socket.timeout) return null;
  const { WriteWrap, streamBaseState, kLastWriteWasAsync } = b;
  const ws = state as WritableState;
  const h = handle as WriteHandle;
  const oncomplete = (status: number) => {
    if (socket.destroyed) return;
    if (status < 0) socket.destroy(writeError(status));
    else onFlushed();
  };
  const fresh = (): WriteReq => Object.assign(new WriteWrap(), { oncomplete, buffer: null });
  let req = fresh();

  /** The Writable path: whether everything written so far has been flushed. */
  const viaStream = (buf: Buffer): boolean => {
    socket.write(buf);
    if (socket.writableLength === 0) return true;
    socket.write(Buffer.alloc(0), onFlushed); // called once everything before it is written
    return false;
  };

  return {
    write(buf) {
      if (ws.length !== 0 || ws.corked !== 0 || ws.ended || ws.destroyed) return viaStream(buf);
      const err = h.writeBuffer(req, buf);
      if (err !== 0) {
        socket.destroy(writeError(err));
        return false;
      }
      if (streamBaseState[kLastWriteWasAsync] === 0) return true;
      // libuv holds the rest and C++ holds this WriteWrap until it completes: the next write gets a new one.
      req.buffer = buf;
      req = fresh();
      return false;
    },
  };
}

/** Throws when this Node lacks what directWriter() relies on (run by a unit test). */
export function checkDirectWrite(): void {
  if (!findBinding()) throw new Error(`Node ${process.version}: process.binding('stream_wrap') has no WriteWrap/streamBaseState; the data phase writes through Socket.write`);
}
