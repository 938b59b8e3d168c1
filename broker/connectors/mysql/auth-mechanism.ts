// The one shape of a MySQL authentication plugin on the broker's client side: start()
// gives the first auth response (in the handshake response, or after an auth switch)
// and onMoreData() answers the server's AuthMoreData packets. Adding a plugin is one
// file exporting an AuthMechanism and one row in auth-mechanisms.ts.

export interface AuthInput {
  password: Buffer;
  /** The server's nonce: the greeting's scramble, or the auth switch's data (see switchNonce). */
  nonce: Buffer;
  /** TLS or a Unix socket: a password may travel in clear. */
  secure: boolean;
  debug(message: string, fields?: Record<string, unknown>): void;
}

export interface AuthExchange {
  first: Buffer;
  /** The packet to send for an AuthMoreData payload, or undefined to read on. Throws on a message the plugin does not expect. */
  onMoreData?(data: Buffer): Buffer | undefined;
}

export interface AuthMechanism {
  plugin: string;
  /** May answer the greeting directly (the greeting's 20-byte scramble is its nonce). */
  answersGreeting: boolean;
  /** The nonce inside an auth switch request's data. */
  switchNonce(data: Buffer): Buffer;
  start(input: AuthInput): AuthExchange;
}

const SCRAMBLE_LENGTH = 20;

/** The SHA-1/SHA-256 scramble plugins send 20 bytes plus a NUL terminator. */
export function scrambleFromSwitch(data: Buffer): Buffer {
  return data.length === SCRAMBLE_LENGTH + 1 && data[SCRAMBLE_LENGTH] === 0 ? data.subarray(0, SCRAMBLE_LENGTH) : data;
}
