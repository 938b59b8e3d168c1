// SSH_MSG_DISCONNECT with a description (RFC 4253 11.1): the OpenSSH client prints it
// as "Received disconnect from HOST port P:CODE: MESSAGE". ssh2's own disconnect()
// sends no description, so the packet goes out on ssh2's packet writer (ssh2-internals.ts).
import type { Connection } from 'ssh2';
import type { BrokerErrorCode } from '../errors.js';
import { sshString } from './keys.js';
import { transportSocket, writeTransportPacket } from './ssh2-internals.js';

export const DISCONNECT = {
  HOST_NOT_ALLOWED_TO_CONNECT: 1,
  PROTOCOL_ERROR: 2,
  SERVICE_NOT_AVAILABLE: 7,
  HOST_KEY_NOT_VERIFIABLE: 9,
  CONNECTION_LOST: 10,
  BY_APPLICATION: 11,
  NO_MORE_AUTH_METHODS_AVAILABLE: 14,
} as const;

export function disconnectReasonFor(code: BrokerErrorCode): number {
  switch (code) {
    case 'target_rejected_credentials':
    case 'unsupported_auth':
      return DISCONNECT.NO_MORE_AUTH_METHODS_AVAILABLE;
    case 'host_key_mismatch':
      return DISCONNECT.HOST_KEY_NOT_VERIFIABLE;
    case 'target_unreachable':
    case 'timeout':
    case 'provider_failed':
      return DISCONNECT.CONNECTION_LOST;
    case 'protocol_violation':
    case 'packet_too_large':
      return DISCONNECT.PROTOCOL_ERROR;
    case 'service_stopping':
      return DISCONNECT.SERVICE_NOT_AVAILABLE;
    default:
      return DISCONNECT.BY_APPLICATION;
  }
}

/** Sends the disconnect and closes the client's transport. Never throws. */
export function sendDisconnect(conn: Connection, reason: number, message: string): void {
  try {
    const body = Buffer.concat([Buffer.from([1]), Buffer.alloc(4), sshString(message.replace(/[\r\n]+/g, ' ')), sshString('')]);
    body.writeUInt32BE(reason, 1);
    writeTransportPacket(conn, body);
  } catch {
    // Falls back to closing without a message.
  }
  try {
    transportSocket(conn)?.end();
  } catch {
    // already closed
  }
}
