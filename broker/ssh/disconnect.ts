// SSH_MSG_DISCONNECT with a description (RFC 4253 11.1; the reason per error code is the
// catalog's sshDisconnect column in broker/errors.ts): the OpenSSH client prints it
// as "Received disconnect from HOST port P:CODE: MESSAGE". ssh2's own disconnect()
// sends no description, so the packet goes out on ssh2's packet writer (ssh2-internals.ts).
import type { Connection } from 'ssh2';
import { sshString } from './keys.js';
import { transportSocket, writeTransportPacket } from './ssh2-internals.js';

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
