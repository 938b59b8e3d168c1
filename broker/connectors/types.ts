// The connector contract. The broker creates one ServiceConnector per running service
// (with the service's settings parsed once by the spec) and closes it when the service
// has stopped and its connections are over. Per client connection the connector
// authenticates against the target and hands back the upstream socket for the broker to
// splice, or serves the connection itself.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { AuditSink } from '../audit/types.js';
import type { ConnectorSpec, ServiceConfig } from '../config/types.js';
import type { ResolvedCredentials } from '../credentials/types.js';
import type { BrokerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ChunkFilter } from '../splice.js';
import type { BastionPool } from '../ssh/bastion-pool.js';

export interface ConnectionContext {
  service: ServiceConfig;
  connectionId: string;
  signal: AbortSignal;
  logger: Logger;
  audit: AuditSink;
  /** Resolves the service's credentials as one group (called once the client is ready). */
  resolveCredentials(): Promise<ResolvedCredentials>;
  /**
   * The user's consent for this client (approval: ask, or the broker is locked); rejects
   * with not_approved. Absent when the broker has no approvals. The broker calls it before
   * the handshake unless the connector approves per request (ssh-agent: per key).
   */
  approve?(key?: { name: string; fingerprint: string }): Promise<void>;
}

export interface Upstream {
  type: 'upstream';
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
  clientToTarget?: ChunkFilter;
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
  /** Client bytes moved outside the socket's own counters (the native HTTP lane), once done. */
  bytesMoved?(): { fromClient: number; toClient: number };
}

/** What a handshake ends in: a pipe to splice, a connection served by the connector, or nothing more to do (a PostgreSQL cancel request). */
export type Handshake = Upstream | ServedConnection | null;

/** One client connection as the connector sees it. */
export interface ConnectorConnection {
  /**
   * The client side and target side of the handshake. Rejects with a BrokerError for
   * writeError (or another error, reported to the client as internal).
   */
  handshake: Promise<Handshake>;
  /**
   * Writes err to this client in its own protocol, at the point the handshake reached
   * (a TLS socket, a sequence number). Absent where the protocol has no way to carry it
   * (raw TCP, the agent protocol) or the connector already told the client itself.
   */
  writeError?(err: BrokerError): void;
}

/** One connector instance per running service (it may keep per-service state). */
export interface ServiceConnector {
  /** Starts the handshake of one client connection. */
  connect(client: Socket, ctx: ConnectionContext): ConnectorConnection;
  /** Releases what the connector holds for its service; called once its connections are over. */
  close(): Promise<void>;
  /**
   * The connector calls ctx.approve itself, per request (ssh-agent: per key, before each
   * signature). Otherwise the broker asks before the handshake and refuses with refuse().
   */
  asksApprovalItself?: boolean;
  /**
   * Answers a client the broker will not serve (over its connection limit, or a user the
   * service does not serve) in the protocol's own words, before any login, as the server
   * itself would. With ctx it may read the client's opening messages first (pg's SSL
   * request and startup message), never touching a provider or the target. Absent where
   * the protocol has no way to say it (the socket is just closed).
   */
  refuse?(client: Socket, err: BrokerError, ctx?: ConnectionContext): void | Promise<void>;
  /**
   * `secretless-desktop test NAME`: resolves the credentials and logs in to the target
   * with the same target-side code a client connection uses, then closes. Rejects with
   * the BrokerError a client would have been sent. Absent where there is no login to make
   * without a client's request (http): the test then checks that the credentials resolve.
   */
  probe?(ctx: ConnectionContext): Promise<ProbeResult>;
}

export interface ProbeResult {
  /** host:port or a description, as in the audit. */
  target: string;
  authMethod: string;
}

export interface ConnectorDeps {
  logger: Logger;
  audit: AuditSink;
  /** The broker's own certificate for client-facing TLS (created once per installation). */
  localCertificate?: () => Promise<{ certPem: string; keyPem: string }>;
  /** The broker's SSH bastion connections, shared by the services that tunnel (closed with the broker). */
  bastions: BastionPool;
  /** Where the broker keeps state by default (the SSH host key). */
  stateDir: string;
}

export interface Connector<S = unknown> {
  readonly spec: ConnectorSpec & {
    /** The service's `config:` block, typed, defaults applied; throws SettingsError on a value the checks refuse. */
    parseSettings(raw: Record<string, unknown>): S;
  };
  create(service: ServiceConfig, settings: S, deps: ConnectorDeps): ServiceConnector;
}
