// The ssh-agent protocol (draft-miller-ssh-agent): framing, request parsing and the
// replies the broker sends. Pure: no I/O.
import { sshString } from '../../ssh/keys.js';
import { CodedError } from '../../errors.js';

export const SSH_AGENT_FAILURE = 5;
export const SSH_AGENT_SUCCESS = 6;
export const SSH_AGENTC_REQUEST_IDENTITIES = 11;
export const SSH_AGENT_IDENTITIES_ANSWER = 12;
export const SSH_AGENTC_SIGN_REQUEST = 13;
export const SSH_AGENT_SIGN_RESPONSE = 14;

/** Requests that would change the agent; a read-only agent refuses them all. */
export const MUTATIONS: Readonly<Record<number, string>> = {
  17: 'add-identity',
  18: 'remove-identity',
  19: 'remove-all-identities',
  20: 'add-smartcard-key',
  21: 'remove-smartcard-key',
  22: 'lock',
  23: 'unlock',
  25: 'add-identity-constrained',
  26: 'add-smartcard-key-constrained',
  // SSH1-era requests, still sent by old clients.
  1: 'request-rsa-identities',
  7: 'add-rsa-identity',
  8: 'remove-rsa-identity',
  9: 'remove-all-rsa-identities',
};

/** OpenSSH's own limit on an agent message. */
export const MAX_MESSAGE = 256 * 1024;

export type AgentRequest =
  | { type: 'request-identities' }
  | { type: 'sign'; keyBlob: Buffer; data: Buffer; flags: number }
  | { type: 'mutation'; name: string }
  | { type: 'extension'; name: string }
  | { type: 'unknown'; code: number }
  | { type: 'malformed'; code: number };

export class AgentFrameError extends CodedError {
  constructor(message: string) {
    super('protocol_violation', message);
  }
}

/**
 * Splits complete frames off the front of buf. Returns the message bodies and the
 * bytes left over; throws AgentFrameError on a length over MAX_MESSAGE or of zero.
 */
export function readFrames(buf: Buffer): { messages: Buffer[]; rest: Buffer } {
  const messages: Buffer[] = [];
  let at = 0;
  while (buf.length - at >= 4) {
    const len = buf.readUInt32BE(at);
    if (len === 0 || len > MAX_MESSAGE) throw new AgentFrameError(`agent message length ${len} is out of range`);
    if (buf.length - at - 4 < len) break;
    messages.push(buf.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return { messages, rest: buf.subarray(at) };
}

function readString(body: Buffer, at: number): { value: Buffer; next: number } | undefined {
  if (body.length - at < 4) return undefined;
  const len = body.readUInt32BE(at);
  if (body.length - at - 4 < len) return undefined;
  return { value: body.subarray(at + 4, at + 4 + len), next: at + 4 + len };
}

export function parseRequest(message: Buffer): AgentRequest {
  const code = message[0]!;
  if (code === SSH_AGENTC_REQUEST_IDENTITIES) return { type: 'request-identities' };
  if (code === SSH_AGENTC_SIGN_REQUEST) {
    const key = readString(message, 1);
    const data = key && readString(message, key.next);
    if (!key || !data || message.length - data.next < 4) return { type: 'malformed', code };
    return { type: 'sign', keyBlob: key.value, data: data.value, flags: message.readUInt32BE(data.next) };
  }
  if (code === 27) {
    const name = readString(message, 1);
    return name ? { type: 'extension', name: name.value.toString('utf8') } : { type: 'malformed', code };
  }
  const mutation = MUTATIONS[code];
  if (mutation) return { type: 'mutation', name: mutation };
  return { type: 'unknown', code };
}

function frame(body: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

export function encodeFailure(): Buffer {
  return frame(Buffer.from([SSH_AGENT_FAILURE]));
}

export function encodeIdentities(keys: { blob: Buffer; comment: string }[]): Buffer {
  const count = Buffer.alloc(4);
  count.writeUInt32BE(keys.length);
  return frame(Buffer.concat([Buffer.from([SSH_AGENT_IDENTITIES_ANSWER]), count, ...keys.flatMap((k) => [sshString(k.blob), sshString(k.comment)])]));
}

export function encodeSignResponse(signatureBlob: Buffer): Buffer {
  return frame(Buffer.concat([Buffer.from([SSH_AGENT_SIGN_RESPONSE]), sshString(signatureBlob)]));
}

/** Client side, for tests and tools: a request frame. */
export function encodeRequest(code: number, body: Buffer = Buffer.alloc(0)): Buffer {
  return frame(Buffer.concat([Buffer.from([code]), body]));
}
