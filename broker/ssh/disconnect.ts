// SSH_MSG_DISCONNECT with a description (RFC 4253 11.1): the OpenSSH client prints it
// as "Received disconnect from HOST port P:CODE: MESSAGE". ssh2's own disconnect()
// sends no description, so the packet is built here on ssh2's packet writer.
import type { Connection } from 'ssh2';
import type { BrokerErrorCode } from '../errors.js';
import { sshString } from './keys.js';

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

interface ProtocolInternals {
  _packetRW: { write: { allocStartKEX: number; alloc(len: number, force?: boolean): Buffer; finalize(packet: Buffer, force?: boolean): Buffer } };
  _cipher: { encrypt(packet: Buffer): void };
}

/** Sends the disconnect and closes the client's transport. Never throws. */
export function sendDisconnect(conn: Connection, reason: number, message: string): void {
  const internals = conn as unknown as { _protocol?: ProtocolInternals; _sock?: { end(): void; writable: boolean } };
  try {
    const proto = internals._protocol!;
    const body = Buffer.concat([Buffer.from([1]), Buffer.alloc(4), sshString(message.replace(/[\r\n]+/g, ' ')), sshString('')]);
    body.writeUInt32BE(reason, 1);
    const start = proto._packetRW.write.allocStartKEX;
    const packet = proto._packetRW.write.alloc(body.length, true);
    body.copy(packet, start);
    proto._cipher.encrypt(proto._packetRW.write.finalize(packet, true));
  } catch {
    // Falls back to closing without a message.
  }
  try {
    internals._sock?.end();
  } catch {
    // already closed
  }
}
