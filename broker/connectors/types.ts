// The connector contract: a connector authenticates a client connection against its
// target and hands back the upstream socket; the broker then splices the two.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { AuditSink } from '../audit/types.js';
import type { ConnectorSpec, ServiceConfig } from '../config/types.js';
import type { ResolvedCredentials } from '../credentials/types.js';
import type { BrokerError } from '../errors.js';
import type { Logger } from '../log.js';

export interface ConnectionContext {
  service: ServiceConfig;
  connectionId: string;
  signal: AbortSignal;
  logger: Logger;
  audit: AuditSink;
  /** Resolves the service's credentials as one group (called once the client is ready). */
  resolveCredentials(): Promise<ResolvedCredentials>;
}

export interface Upstream {
  socket: Socket | TLSSocket;
  /** Bytes the client sent past the handshake, to forward first. */
  clientPending: Buffer;
  /** Bytes the target sent past the handshake, to forward first. */
  upstreamPending: Buffer;
  /** host:port or socket path, for audit. */
  target: string;
  tls: boolean;
  authMethod: string;
  /** The client socket to splice when the connector replaced it (client-side TLS). */
  client?: Socket | TLSSocket;
  /** Called once when the spliced connection ends. */
  onClose?: () => void;
  /**
   * Optional check of client->target bytes in the data phase, returning what to forward
   * (MySQL refuses COM_CHANGE_USER this way). It runs per chunk, so it must only look at
   * framing, never buffer or parse payloads. Absent for a plain pipe.
   */
  clientToTarget?: (chunk: Buffer) => Buffer[];
}

/**
 * A connection the connector serves itself until it ends (it terminates the client's
 * protocol instead of handing back a byte stream: the SSH server, the ssh-agent).
 */
export interface ServedConnection {
  type: 'served';
  /** host:port or a description, for audit. */
  target: string;
  tls: boolean;
  authMethod: string;
  /** Settles when the session is over (the connector also ends it on ctx.signal). */
  done: Promise<void>;
}

/** One connector instance per running service (it may keep per-service state). */
export interface ServiceConnector {
  /**
   * Performs the client side and target side of the handshake. Resolves to the
   * authenticated upstream, or null when the connection needed no upstream (e.g. a
   * PostgreSQL cancel request), or to a ServedConnection the connector runs itself.
   * Rejects with a BrokerError to be written to the client.
   */
  connect(client: Socket, ctx: ConnectionContext): Promise<Upstream | ServedConnection | null>;
  /** Writes err to the client in the client's own protocol. */
  writeError(client: Socket, err: BrokerError): void;
}

export interface ConnectorDeps {
  logger: Logger;
  audit: AuditSink;
  /** The broker's own certificate for client-facing TLS (created once per installation). */
  localCertificate?: () => Promise<{ certPem: string; keyPem: string }>;
}

export interface Connector {
  readonly spec: ConnectorSpec;
  create(service: ServiceConfig, deps: ConnectorDeps): ServiceConnector;
}
