// The one shape of a PostgreSQL authentication method on the broker's side of the
// backend login: start() answers the server's AuthenticationXxx request, onMessage()
// the SASL follow-ups. Adding a method is one file exporting a mechanism and one row in
// auth-mechanisms.ts.
import type { TLSSocket } from 'node:tls';
import type { AuthRequest } from './codec.js';

/** The requests that start an exchange. */
export type StartRequest = Extract<AuthRequest, { type: 'cleartext' | 'md5' | 'sasl' }>;
export type FollowUp = Extract<AuthRequest, { type: 'sasl-continue' | 'sasl-final' }>;

export interface PgAuthInput {
  username: string;
  /** The password, or a target_rejected_credentials error naming `method` when the service has none. */
  password(method: string): Buffer;
  /** The TLS socket when the backend link is encrypted (for channel binding). */
  tlsSocket?: TLSSocket;
  warn(message: string): void;
}

export interface PgAuthExchange {
  /** The authMethod audited for the connection. */
  method: string;
  /** The message answering the request (PasswordMessage, SASLInitialResponse). */
  first: Buffer;
  /** The message answering a SASL follow-up, or undefined when none is due. */
  onMessage?(req: FollowUp): Promise<Buffer | undefined>;
}

export interface PgAuthMechanism<R extends StartRequest> {
  start(req: R, input: PgAuthInput): PgAuthExchange;
}
