// The client half of the pg handshake: SSL/GSS encryption requests (refused, or TLS
// with the broker's certificate when the service has clientTls), cancel requests, and
// the startup message. The client's user and password are never used.
import type { Socket } from 'node:net';
import * as tls from 'node:tls';
import { BrokerError } from '../../errors.js';
import { abortError } from '../../net/abort.js';
import { createSocketReader, type SocketReader } from '../../net/socket-reader.js';
import { acceptTls } from '../../tls/client-tls.js';
import type { ConnectionContext } from '../types.js';
import type { CancelRegistry } from './cancel.js';
import { ACCEPT_ENCRYPTION, encodeCancelRequest, parseStartupPacket, PgProtocolError, REFUSE_ENCRYPTION, type StartupPacket } from './codec.js';

export const STARTUP_TIMEOUT_MS = 30_000;

export type Startup = Extract<StartupPacket, { type: 'startup' }>;

export interface ClientSide {
  socket: Socket;
  reader: SocketReader;
}

export function clientReader(socket: Socket, ctx: ConnectionContext): SocketReader {
  return createSocketReader(socket, {
    signal: ctx.signal,
    closedError: () => new BrokerError('protocol_violation', 'the client closed the connection during startup'),
    abortedError: () => abortError(ctx.signal, ctx.service.name),
  });
}

/** Answers 'S' and runs the TLS handshake as the server; later reads come from the TLS socket. */
async function acceptClientTls(side: ClientSide, context: tls.SecureContext, ctx: ConnectionContext): Promise<void> {
  // A client must wait for our answer before its ClientHello; bytes already here were injected in plain text.
  if (side.reader.detach().length) throw new BrokerError('protocol_violation', 'unexpected data after the SSL request');
  side.socket.write(ACCEPT_ENCRYPTION);
  const secure = await acceptTls(side.socket, context, ctx.signal, ctx.service.name);
  side.socket = secure;
  side.reader = clientReader(secure, ctx);
}

export async function readClientStartup(
  side: ClientSide,
  cancels: CancelRegistry,
  clientTls: (() => Promise<tls.SecureContext>) | undefined,
  ctx: ConnectionContext,
): Promise<Startup | null> {
  // A client may ask for SSL and then GSS encryption before the startup message.
  for (let attempt = 0; attempt < 3; attempt++) {
    let packet: StartupPacket;
    try {
      packet = await side.reader.read(parseStartupPacket);
    } catch (err) {
      if (err instanceof PgProtocolError && err.kind === 'bad-length') {
        // PostgreSQL closes without a word here (node-postgres's connect-then-end sends
        // Terminate first, and would raise an ErrorResponse as an uncaught error).
        side.socket.end();
        throw new BrokerError('protocol_violation', err.message);
      }
      if (err instanceof PgProtocolError)
        throw new BrokerError(err.kind === 'too-large' ? 'packet_too_large' : 'protocol_violation', err.message);
      throw err;
    }
    switch (packet.type) {
      case 'ssl-request':
        if (clientTls && !(side.socket instanceof tls.TLSSocket)) await acceptClientTls(side, await clientTls(), ctx);
        else side.socket.write(REFUSE_ENCRYPTION);
        continue;
      case 'gssenc-request':
        side.socket.write(REFUSE_ENCRYPTION);
        continue;
      case 'cancel-request':
        await forwardCancel(packet.pid, packet.secret, cancels, ctx);
        side.socket.end();
        return null;
      case 'startup':
        return packet;
    }
  }
  throw new BrokerError('protocol_violation', 'too many encryption requests before the startup message');
}

/** How long forwarding one cancel request to the target may take. */
const CANCEL_FORWARD_MS = 10_000;

async function forwardCancel(pid: number, secret: Buffer, cancels: CancelRegistry, ctx: ConnectionContext): Promise<void> {
  const hit = cancels.find(pid, secret);
  if (!hit) {
    ctx.logger.debug('cancel request for an unknown backend key dropped');
    return;
  }
  try {
    // Not the connection's signal: a client that sends its cancel request and hangs up at
    // once (as a raw client may) must still get the query cancelled, as PostgreSQL does.
    const socket = await hit.target.open(AbortSignal.timeout(CANCEL_FORWARD_MS));
    socket.end(encodeCancelRequest(pid, secret));
    socket.on('error', () => socket.destroy());
    ctx.audit.record({ type: 'cancel.forwarded', service: ctx.service.name, connectionId: hit.connectionId });
  } catch (err) {
    ctx.logger.warn('could not forward a cancel request', { reason: (err as Error).message });
  }
}

