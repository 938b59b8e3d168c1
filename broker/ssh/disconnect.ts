// SSH_MSG_DISCONNECT with a description (RFC 4253 11.1; the reason per error code is the
// catalog's sshDisconnect column in broker/errors.ts): the OpenSSH client prints it
// as "Received disconnect from HOST port P:CODE: MESSAGE". ssh2's own disconnect()
// sends no description, so the packet goes out on ssh2's packet writer (ssh2-internals.ts).
import { randomBytes } from 'node:crypto';
import type { Connection } from 'ssh2';
import { sshString } from './keys.js';
import { transportSocket, writeTransportPacket } from './ssh2-internals.js';

/** Sends the disconnect and closes the client's transport. Never throws. */
export function sendDisconnect(conn: Connection, reason: number, message: string): void {
  try {
    writeTransportPacket(conn, disconnectPayload(reason, message));
  } catch {
    // Falls back to closing without a message.
  }
  try {
    transportSocket(conn)?.end();
  } catch {
    // already closed
  }
}

function disconnectPayload(reason: number, message: string): Buffer {
  const body = Buffer.concat([Buffer.from([1]), Buffer.alloc(4), sshString(message.replace(/[\r\n]+/g, ' ')), sshString('')]);
  body.writeUInt32BE(reason, 1);
  return body;
}

/**
 * A refusal before any key exchange, for a raw socket: our identification line, then the
 * disconnect in the clear (RFC 4253 4.2 and 6: until the first key exchange there is no
 * cipher and no MAC, and padding aligns the packet to 8 bytes, at least 4 of it).
 */
export function plainDisconnect(reason: number, message: string, ident = 'SSH-2.0-SecretlessDesktop'): Buffer {
  const payload = disconnectPayload(reason, message);
  let padding = 8 - ((5 + payload.length) % 8);
  if (padding < 4) padding += 8;
  const head = Buffer.alloc(5);
  head.writeUInt32BE(1 + payload.length + padding, 0);
  head[4] = padding;
  return Buffer.concat([Buffer.from(`${ident}\r\n`), head, payload, randomBytes(padding)]);
}
