// Which OS user owns the client end of an accepted TCP connection: the one question
// same-user enforcement asks of the platform. Each platform answers it its own way
// (socket-owner-linux.ts, -macos.ts, -windows.ts, chosen by platform.ts); all are
// behind this one interface.
import type { Socket } from 'node:net';

/** The two ends of a TCP connection as the broker's accepted socket sees them. */
export interface TcpEnds {
  /** The client's address and port (our socket's remote end). */
  clientAddress: string;
  clientPort: number;
  /** Our address and port (the listener's). */
  localAddress: string;
  localPort: number;
}

/**
 * The owner of the client's socket: a numeric uid (Linux, macOS) or a SID (Windows), or
 * unknown with why (a peer on another machine or in another network namespace has no
 * socket here; a client that already closed its socket has no owner any more).
 */
export type SocketOwner = { type: 'user'; uid: number | string; name?: string } | { type: 'unknown'; reason: string };

/** A kernel socket-table entry of the client's socket: its owner and inode (0 once closed). */
export interface ProcTcpRow {
  uid: number;
  inode: string;
}

export type SocketOwnerLookup = (ends: TcpEnds, signal?: AbortSignal) => Promise<SocketOwner>;

export function tcpEnds(socket: Socket): TcpEnds | undefined {
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  if (!remoteAddress || !remotePort || !localAddress || !localPort) return undefined;
  return { clientAddress: remoteAddress, clientPort: remotePort, localAddress, localPort };
}
