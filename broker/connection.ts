// One client connection, start to finish: audit it, let the connector authenticate
// it, splice, and turn any failure into a protocol error for the client.
import type { Socket } from 'node:net';
import type { AccessCheck } from './access/gate.js';
import { PeerNotAllowed } from './access/same-user.js';
import type { AuditSink, ClientInfo } from './audit/types.js';
import type { ServiceConfig } from './config/types.js';
import type { ConnectionContext, ConnectorConnection, Handshake, ServiceConnector, Upstream } from './connectors/types.js';
import type { ResolvedCredentials } from './credentials/types.js';
import { BrokerError, clientErrorFor, toClientError } from './errors.js';
import type { Logger } from './log.js';
import { splice, type SpliceResult } from './splice.js';
import type { ApprovalRequest } from './access/approvals.js';

export interface ConnectionDeps {
  service: ServiceConfig;
  connector: ServiceConnector;
  logger: Logger;
  audit: AuditSink;
  resolve(connectionId: string, signal: AbortSignal): Promise<ResolvedCredentials>;
  /** The target rejected the credentials: drop cached ones, so a fixed password works at the next connection. */
  invalidateCredentials(): void;
  /** Peer process lookup for audit; bounded and never throws. */
  lookupPeer?(socket: Socket): Promise<{ pid?: number; uid?: number }>;
  /** Who may use the service (access/gate.ts): runs before any provider or target is touched. */
  access?: AccessCheck;
  /**
   * The user's consent (broker/access/approvals.ts): resolves when the client may go on,
   * rejects with not_approved. Runs after accept and before credentials or the target are
   * touched; connectors that ask per request (ssh-agent, per key) call it through ctx.approve.
   */
  approve?(request: ApprovalRequest): Promise<void>;
}

export interface ConnectionHandle {
  readonly id: string;
  readonly done: Promise<void>;
  /** Abort the handshake or close the spliced sockets now. */
  abort(): void;
}

let counter = 0;
const idPrefix = Date.now().toString(36);

export function nextConnectionId(): string {
  return `${idPrefix}-${(++counter).toString(36)}`;
}

/** How long a failed client gets to read its error before the socket is destroyed. */
const ERROR_LINGER_MS = 2_000;

export function handleConnection(socket: Socket, client: ClientInfo, deps: ConnectionDeps): ConnectionHandle {
  const id = nextConnectionId();
  const controller = new AbortController();
  const started = performance.now();
  const { service, logger, audit } = deps;
  const log = logger.child({ service: service.name, conn: id });
  // Until the splice takes over, socket errors surface through the connector's reads.
  socket.on('error', (err) => log.debug('client socket error', { reason: err.message }));
  controller.signal.addEventListener('abort', () => socket.destroy(), { once: true });
  // A client that goes during the handshake aborts it, so the target login it started
  // (an authenticated backend session, a credential fetch) does not outlive it.
  const onClientGone = () => controller.abort(new BrokerError('protocol_violation', 'the client closed the connection before the login finished'));
  socket.once('close', onClientGone);

  const ctx: ConnectionContext = {
    service,
    connectionId: id,
    signal: controller.signal,
    logger: log,
    audit,
    resolveCredentials: () => deps.resolve(id, controller.signal),
  };
  let clientInfo: ClientInfo = client;
  const approve = deps.approve;
  if (approve) ctx.approve = (key) => approve({ socket, client: clientInfo, service, connectionId: id, signal: controller.signal, ...(key ? { key } : {}) });

  /** Lets the client read what was written, then closes. */
  const endSoon = () => {
    if (socket.destroyed) return;
    socket.end();
    setTimeout(() => socket.destroy(), ERROR_LINGER_MS).unref();
  };

  let connection: ConnectorConnection | undefined;
  let bytes: SpliceResult | undefined;
  let moved: { fromClient: number; toClient: number } | undefined;
  const done = (async () => {
    // Looked up before the handshake: the client is still there, waiting for our answer
    // (a short-lived client could otherwise be gone before a slow lookup finds it).
    const peer = deps.lookupPeer ? await deps.lookupPeer(socket) : {};
    let known: ClientInfo = { ...client, ...peer };
    try {
      if (deps.access) known = await deps.access({ socket, client: known, service, connectionId: id, signal: controller.signal });
      clientInfo = known;
      // Then the user's consent: nothing is sent while the user is asked, the client waits as for a slow server.
      if (ctx.approve && !deps.connector.asksApprovalItself) await ctx.approve();
    } catch (err) {
      await refuse(err, err instanceof PeerNotAllowed ? { ...known, ...err.client } : known);
      return;
    }
    audit.record({ type: 'connection.opened', service: service.name, connectionId: id, client: known });
    try {
      connection = startHandshake(deps.connector, socket, ctx);
      let upstream: Handshake = await connection.handshake;
      // From here the splice (or the served session) owns the client's close.
      if (upstream?.type !== 'served') socket.off('close', onClientGone);
      if (!upstream) {
        endSoon(); // no login needed (a cancel request): the client waits for us to close
      } else {
        audit.record({
          type: 'connection.authenticated',
          service: service.name,
          connectionId: id,
          target: upstream.target,
          tls: upstream.tls,
          authMethod: upstream.authMethod,
          authMs: Math.round((performance.now() - started) * 10) / 10,
        });
        if (upstream.type === 'served') {
          await upstream.done;
          moved = upstream.bytesMoved?.();
          upstream = null;
          endSoon();
        } else {
          const spliced = spliceUpstream(socket, upstream, controller.signal);
          upstream = null; // held connections keep only what the pipe needs
          const counted = await spliced;
          // The native pump moves bytes the socket's own counters never see.
          if (counted.client === socket) bytes = counted;
        }
      }
    } catch (err) {
      const clientError = toClientError(err);
      if (clientError.code === 'target_rejected_credentials') deps.invalidateCredentials();
      if (clientError.code === 'internal') log.error('connection failed', { reason: (err as Error)?.message ?? String(err) });
      else log.info('connection failed', { code: clientError.code, reason: clientError.message });
      audit.record({ type: 'connection.failed', service: service.name, connectionId: id, code: clientError.code, reason: clientError.message });
      if (!socket.destroyed) connection?.writeError?.(clientErrorFor(clientError, service, id));
      endSoon();
    }
    await closed();
  })();

  /** Waits for the client to go, then records the close. */
  async function closed(): Promise<void> {
    if (!socket.destroyed) await new Promise((r) => socket.once('close', r));
    audit.record({
      type: 'connection.closed',
      service: service.name,
      connectionId: id,
      bytesFromClient: bytes?.bytesFromClient ?? socket.bytesRead + (moved?.fromClient ?? 0),
      bytesToClient: bytes?.bytesToClient ?? socket.bytesWritten + (moved?.toClient ?? 0),
      durationMs: Math.round(performance.now() - started),
    });
  }

  /** An access check said no: the client hears why in its protocol, nothing else happens. */
  async function refuse(err: unknown, known: ClientInfo): Promise<void> {
    const clientError = toClientError(err);
    const reason = err instanceof PeerNotAllowed ? err.detail : clientError.message;
    audit.record({ type: 'connection.opened', service: service.name, connectionId: id, client: known });
    if (clientError.code === 'internal') log.error('access check failed', { reason: (err as Error)?.message ?? String(err) });
    else log.info('connection refused', { code: clientError.code, reason });
    audit.record({ type: 'connection.failed', service: service.name, connectionId: id, code: clientError.code, reason });
    if (!socket.destroyed && deps.connector.refuse) {
      await Promise.resolve(deps.connector.refuse(socket, clientError, ctx)).catch((e: Error) => log.debug('refusal not delivered', { reason: e.message }));
    }
    socket.off('close', onClientGone);
    socket.resume(); // what the client sent is dropped, so closing does not reset the connection before it reads the answer
    endSoon();
    await closed();
  }

  return { id, done, abort: () => controller.abort() };
}

/** A connector that throws instead of rejecting still fails just this connection. */
function startHandshake(connector: ServiceConnector, socket: Socket, ctx: ConnectionContext): ConnectorConnection {
  try {
    return connector.connect(socket, ctx);
  } catch (err) {
    return { handshake: Promise.reject(err) };
  }
}

function spliceUpstream(client: Socket, upstream: Upstream, signal: AbortSignal): Promise<SpliceResult & { client: Socket }> {
  const { socket: up, onClose } = upstream;
  const onAbort = () => up.destroy();
  if (signal.aborted) onAbort();
  signal.addEventListener('abort', onAbort, { once: true });
  const spliced = upstream.client ?? client;
  return splice(spliced, up, { toUpstream: upstream.clientPending, toClient: upstream.upstreamPending }, upstream.clientToTarget).then((counted) => {
    signal.removeEventListener('abort', onAbort);
    onClose?.();
    return { ...counted, client: spliced };
  });
}
