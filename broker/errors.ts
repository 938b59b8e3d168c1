// The one error catalog. Every error a client can see is a BrokerError with a code
// from this table; each protocol maps the code to its own wire form (SQLSTATE, MySQL
// errno, SSH disconnect reason, HTTP status). Messages are written by the broker and
// never contain a credential value. Errors outside the data path (config, providers,
// codecs, the control API's input) are CodedErrors: typed by the same codes, but their
// messages are not sent to clients as they are.

export type BrokerErrorCode =
  | 'target_unreachable'
  | 'target_rejected_credentials'
  | 'target_error'
  | 'target_protocol_error'
  | 'tls_failed'
  | 'host_key_mismatch'
  | 'provider_failed'
  | 'unsupported_auth'
  | 'protocol_violation'
  | 'packet_too_large'
  | 'service_stopping'
  | 'command_refused'
  | 'timeout'
  | 'too_many_connections'
  | 'peer_not_allowed'
  | 'not_approved'
  | 'config_invalid'
  | 'invalid_input'
  | 'internal';

/** SSH_MSG_DISCONNECT reason codes (RFC 4253 section 11.1) the catalog uses. */
export const SSH_DISCONNECT = {
  HOST_NOT_ALLOWED_TO_CONNECT: 1,
  PROTOCOL_ERROR: 2,
  SERVICE_NOT_AVAILABLE: 7,
  HOST_KEY_NOT_VERIFIABLE: 9,
  CONNECTION_LOST: 10,
  BY_APPLICATION: 11,
  TOO_MANY_CONNECTIONS: 12,
  NO_MORE_AUTH_METHODS_AVAILABLE: 14,
} as const;

export interface CatalogEntry {
  /** What happened, for humans and logs. */
  summary: string;
  /** PostgreSQL SQLSTATE sent in ErrorResponse. */
  pgSqlState: string;
  /**
   * MySQL server error number and SQLSTATE for an ERR packet. Server-range numbers only:
   * libmariadb reports an ERR carrying a client-range number (2000-2999, e.g. 2003) as
   * "2027 Received malformed packet", hiding the message.
   */
  mysql: { errno: number; sqlState: string };
  /** HTTP status for HTTP-facing connectors and the control API. */
  httpStatus: number;
  /** Redis error prefix (the first word of a `-PREFIX message` reply, which clients match on). */
  redis: string;
  /** SSH_MSG_DISCONNECT reason the SSH server sends with the message. */
  sshDisconnect: number;
}

export const errorCatalog: Readonly<Record<BrokerErrorCode, CatalogEntry>> = {
  target_unreachable: {
    summary: 'the target could not be reached',
    pgSqlState: '08001',
    mysql: { errno: 1429, sqlState: 'HY000' },
    httpStatus: 502,
    redis: 'ERR',
    sshDisconnect: SSH_DISCONNECT.CONNECTION_LOST,
  },
  target_rejected_credentials: {
    summary: "the target rejected the broker's configured credentials",
    pgSqlState: '28P01',
    mysql: { errno: 1045, sqlState: '28000' },
    httpStatus: 502,
    redis: 'WRONGPASS',
    sshDisconnect: SSH_DISCONNECT.NO_MORE_AUTH_METHODS_AVAILABLE,
  },
  target_error: {
    summary: 'the target refused the connection',
    pgSqlState: '08004',
    mysql: { errno: 1043, sqlState: '08S01' },
    httpStatus: 502,
    redis: 'ERR',
    sshDisconnect: SSH_DISCONNECT.BY_APPLICATION,
  },
  target_protocol_error: {
    summary: 'the target sent something the broker does not understand',
    pgSqlState: '08P01',
    mysql: { errno: 1835, sqlState: 'HY000' },
    httpStatus: 502,
    redis: 'ERR',
    sshDisconnect: SSH_DISCONNECT.BY_APPLICATION,
  },
  tls_failed: {
    summary: 'TLS to the target failed',
    pgSqlState: '08001',
    mysql: { errno: 1429, sqlState: 'HY000' },
    httpStatus: 502,
    redis: 'ERR',
    sshDisconnect: SSH_DISCONNECT.BY_APPLICATION,
  },
  host_key_mismatch: {
    summary: "the target's SSH host key does not match the pinned hostKey",
    pgSqlState: '08001',
    mysql: { errno: 1429, sqlState: 'HY000' },
    httpStatus: 502,
    redis: 'ERR',
    sshDisconnect: SSH_DISCONNECT.HOST_KEY_NOT_VERIFIABLE,
  },
  provider_failed: {
    summary: 'a credential provider failed',
    pgSqlState: '08001',
    mysql: { errno: 1045, sqlState: '28000' },
    // 503: the credential is not available now (a login needed, a provider down); retry later.
    httpStatus: 503,
    redis: 'NOAUTH',
    sshDisconnect: SSH_DISCONNECT.CONNECTION_LOST,
  },
  unsupported_auth: {
    summary: 'the target asked for an authentication method the broker does not support',
    pgSqlState: '28000',
    mysql: { errno: 1251, sqlState: '08004' },
    httpStatus: 502,
    redis: 'NOAUTH',
    sshDisconnect: SSH_DISCONNECT.NO_MORE_AUTH_METHODS_AVAILABLE,
  },
  protocol_violation: {
    summary: 'the client sent a malformed message',
    pgSqlState: '08P01',
    mysql: { errno: 1043, sqlState: '08S01' },
    httpStatus: 400,
    redis: 'ERR',
    sshDisconnect: SSH_DISCONNECT.PROTOCOL_ERROR,
  },
  packet_too_large: {
    summary: 'the client sent a message larger than allowed',
    pgSqlState: '08P01',
    mysql: { errno: 1153, sqlState: '08S01' },
    httpStatus: 413,
    redis: 'ERR',
    sshDisconnect: SSH_DISCONNECT.PROTOCOL_ERROR,
  },
  service_stopping: {
    summary: 'the service is stopping',
    pgSqlState: '57P01',
    mysql: { errno: 1053, sqlState: '08S01' },
    httpStatus: 503,
    redis: 'ERR',
    sshDisconnect: SSH_DISCONNECT.SERVICE_NOT_AVAILABLE,
  },
  command_refused: {
    summary: 'the broker refused a client command (e.g. MySQL COM_CHANGE_USER)',
    pgSqlState: '0A000',
    mysql: { errno: 1235, sqlState: '42000' },
    httpStatus: 403,
    redis: 'NOPERM',
    sshDisconnect: SSH_DISCONNECT.BY_APPLICATION,
  },
  timeout: {
    summary: 'the operation timed out',
    pgSqlState: '08006',
    mysql: { errno: 1159, sqlState: '08S01' },
    httpStatus: 504,
    redis: 'ERR',
    sshDisconnect: SSH_DISCONNECT.CONNECTION_LOST,
  },
  config_invalid: {
    summary: "the service's configuration or a credential value is not usable",
    pgSqlState: 'F0000',
    mysql: { errno: 1105, sqlState: 'HY000' },
    // The control API: the submitted configuration was refused.
    httpStatus: 400,
    redis: 'ERR',
    sshDisconnect: SSH_DISCONNECT.BY_APPLICATION,
  },
  invalid_input: {
    summary: 'a request to the broker had invalid arguments',
    pgSqlState: '22023',
    mysql: { errno: 1210, sqlState: 'HY000' },
    httpStatus: 400,
    redis: 'ERR',
    sshDisconnect: SSH_DISCONNECT.BY_APPLICATION,
  },
  too_many_connections: {
    summary: 'the service is at its limit of concurrent logins or connections',
    pgSqlState: '53300',
    mysql: { errno: 1040, sqlState: '08004' },
    httpStatus: 503,
    redis: 'ERR',
    sshDisconnect: SSH_DISCONNECT.TOO_MANY_CONNECTIONS,
  },
  peer_not_allowed: {
    summary: "the connecting OS user may not use this service (same-user only, or the service's allowUsers)",
    // As pg_hba.conf's "no entry for host": an authorization failure before any login.
    pgSqlState: '28000',
    // ER_HOST_NOT_PRIVILEGED, what MariaDB sends in place of its greeting to a host it refuses.
    mysql: { errno: 1130, sqlState: 'HY000' },
    httpStatus: 403,
    redis: 'ERR',
    sshDisconnect: SSH_DISCONNECT.HOST_NOT_ALLOWED_TO_CONNECT,
  },
  not_approved: {
    summary: "the broker's user did not allow this program to use the service (approval: ask)",
    // As a server's own authorization failure: clients report it and do not retry.
    pgSqlState: '28000',
    mysql: { errno: 1045, sqlState: '28000' },
    httpStatus: 403,
    redis: 'NOPERM',
    sshDisconnect: SSH_DISCONNECT.HOST_NOT_ALLOWED_TO_CONNECT,
  },
  internal: {
    summary: 'internal broker error',
    pgSqlState: 'XX000',
    mysql: { errno: 1105, sqlState: 'HY000' },
    httpStatus: 500,
    redis: 'ERR',
    sshDisconnect: SSH_DISCONNECT.BY_APPLICATION,
  },
};

/** An error with a catalog code. Its message is for the log and the CLI, not necessarily for clients. */
export class CodedError extends Error {
  readonly code: BrokerErrorCode;
  constructor(code: BrokerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
  get entry(): CatalogEntry {
    return errorCatalog[this.code];
  }
}

/**
 * An error whose message is safe to show the client. Build messages from names and
 * ids only: never interpolate a credential value.
 */
export class BrokerError extends CodedError {}

/** Anything that is not a BrokerError becomes a generic internal error for the client. */
export function toClientError(err: unknown): BrokerError {
  if (err instanceof BrokerError) return err;
  return new BrokerError('internal', 'internal broker error; see the broker log', { cause: err });
}

/**
 * Appended to a target_rejected_credentials reason: a brokered session runs as the
 * configured account with everything it may do, including changing its own password
 * (ALTER ROLE CURRENT_USER PASSWORD, SET PASSWORD), which locks the broker out.
 */
export const REJECTED_CREDENTIALS_HINT =
  'if the account password was changed on the server (a brokered session may change its own), store the new one where the credential comes from';

/** What of a service decides how much its clients are told (structural: errors.ts imports nothing, so every layer may use it). */
export interface ErrorAudience {
  listenOn: { type: string };
  verboseClientErrors?: boolean;
}

/** verboseClientErrors as configured, else on only for Unix sockets (0600: only the user can connect). */
export function verboseClientErrors(service: ErrorAudience): boolean {
  return service.verboseClientErrors ?? service.listenOn.type === 'unix';
}

/**
 * What the client is told. Messages name provider ids (file paths), target addresses and
 * user names: the owner needs them, whoever can connect to a TCP port should not get
 * them. So unless the service is verbose the client gets the catalog summary and the
 * connection id as a reference; the log and the audit record carry both.
 */
export function clientErrorFor(err: BrokerError, service: ErrorAudience, reference: string): BrokerError {
  if (verboseClientErrors(service)) return err;
  return new BrokerError(err.code, `${err.entry.summary} (reference ${reference}; the details are in the broker's log)`, { cause: err });
}
