// The running broker: one listener and connector instance per service. apply() moves
// from the current config to a new one: unchanged services keep running untouched,
// changed ones restart (their open connections finish on the old instance), removed
// ones stop. stop() stops accepting, drains, then force-closes.
import type { Socket } from 'node:net';
import { accessChecks, type AccessCheck } from './access/gate.js';
import { sameUserCheck } from './access/same-user.js';
import type { AuditSink, ClientInfo } from './audit/types.js';
import { diffServices } from './config/diff.js';
import type { BrokerConfig, ServiceConfig } from './config/types.js';
import { createConnectionLimit, defaultConnectionLimit, descriptorLimit } from './connection-limit.js';
import { handleConnection, nextConnectionId, type ConnectionDeps, type ConnectionHandle } from './connection.js';
import { BrokerError, toClientError, type BrokerErrorCode } from './errors.js';
import type { Connector, ConnectorDeps, ServiceConnector } from './connectors/types.js';
import type { ResolvedCredentials } from './credentials/types.js';
import { displayAddress, listen, type ConnectionHandler, type Listener } from './listeners/listener.js';
import type { Logger } from './log.js';
import { createBastionPool, type BastionPool } from './ssh/bastion-pool.js';

export interface CredentialResolver {
  resolve(
    service: string,
    creds: ServiceConfig['credentials'],
    opts: { signal: AbortSignal; connectionId?: string },
  ): Promise<ResolvedCredentials>;
  /** Forgets the service's cached values (its target rejected them). */
  invalidate(service: string): void;
}

export interface BrokerOptions {
  logger: Logger;
  audit: AuditSink;
  resolver: CredentialResolver;
  connectors: Map<string, Connector>;
  lookupPeer?: (socket: Socket) => Promise<{ pid?: number; uid?: number }>;
  /**
   * Who may use a service, checked per connection before any provider or target is
   * touched (broker/access/). Default: same user only (with each service's allowUsers
   * and allowAnyUser).
   */
  access?: readonly AccessCheck[];
  /** How long stop() waits for connections to finish before closing them. */
  drainMs?: number;
  /** The broker's own certificate, for services with client-facing TLS. */
  localCertificate?: () => Promise<{ certPem: string; keyPem: string }>;
  /** Services the user stopped (kept stopped by apply() until startService()). */
  stopped?: Iterable<string>;
  /** Where connectors keep state by default (the SSH host key). */
  stateDir: string;
  /** The SSH bastion connections shared by tunnelling services (default: a pool of its own, closed by stop()). */
  bastions?: BastionPool;
  /** Open client connections across all services; above it clients are refused in their protocol (default: from the open-file limit). */
  maxConnections?: number;
  /** The user's consent per program (approval: ask, lock); absent: every connection goes on. */
  approve?: ConnectionDeps['approve'];
}

export type ServiceState =
  | { state: 'listening'; address: string }
  | { state: 'failed'; reason: string }
  | { state: 'stopped' };

export interface ServiceStatus {
  name: string;
  connector: string;
  /** The configured address (port 0 and all), as opposed to status.address. */
  listenOn: ServiceConfig['listenOn'];
  connections: number;
  status: ServiceState;
}

interface Running {
  config: ServiceConfig;
  listener?: Listener;
  /** Where the listener sends connections: swapped to the new instance when a restart hands the listener over. */
  route: { handle: ConnectionHandler };
  /** Absent when the service's settings were refused. */
  connector?: ServiceConnector;
  connections: Set<ConnectionHandle>;
  failure?: string;
}

export interface Broker {
  /** Starts, restarts and stops services to match config; a failing service does not stop the others. */
  apply(config: BrokerConfig): Promise<void>;
  status(): ServiceStatus[];
  /** Address a service actually listens on (port resolved), for tests and the CLI. */
  address(service: string): string | undefined;
  stop(options?: { drainMs?: number }): Promise<void>;
  /** User start: clears the stopped mark and starts the configured service (restarts a failed one). */
  startService(name: string): Promise<void>;
  /** User stop: stays stopped across apply() until startService(); open connections are closed after drainMs (default 0). */
  stopService(name: string, options?: { drainMs?: number }): Promise<void>;
  /** Names the user has stopped. */
  stopped(): string[];
  /** The broker-wide cap on open client connections. */
  readonly maxConnections: number;
  /** The config last applied. */
  config(): BrokerConfig;
  /**
   * Logs in to a service's target the way a client connection would (the connector's
   * probe), without a client; audited as target.tested / target.test.failed. Works for a
   * stopped service too.
   */
  testService(name: string, options?: { signal?: AbortSignal }): Promise<ServiceTestResult>;
  /** Closes every open client connection of every service (lock --close-sessions); returns how many. */
  closeConnections(): number;
}

/** Until a service instance is ready for them (never in practice: it is set before listening). */
const refuse: ConnectionHandler = (socket) => socket.destroy();

export type ServiceTestResult =
  | { type: 'ok'; latencyMs: number; target: string; authMethod: string }
  | { type: 'failed'; code: BrokerErrorCode; reason: string };

/** A test that hangs longer than this is reported as a timeout. */
const TEST_TIMEOUT_MS = 60_000;

export function createBroker(options: BrokerOptions): Broker {
  const { logger, audit } = options;
  let current: BrokerConfig = { version: '2', services: [] };
  const running = new Map<string, Running>();
  const userStopped = new Set<string>(options.stopped ?? []);
  const bastions = options.bastions ?? createBastionPool();
  const deps: ConnectorDeps = { logger, audit, localCertificate: options.localCertificate, bastions, stateDir: options.stateDir };
  const access = accessChecks(options.access ?? [sameUserCheck()]);

  /** Starts a service; `inherit` is the listener (and its route) of the instance it replaces. */
  const limit = createConnectionLimit(options.maxConnections ?? defaultConnectionLimit(descriptorLimit()), {
    reached(max) {
      logger.warn('connection limit reached: new clients get "too many connections" until some close', { limit: max });
      audit.record({ type: 'connection.limit', state: 'reached', limit: max, refused: 1 });
    },
    cleared(max, refused) {
      logger.info('connection limit cleared', { limit: max, refused });
      audit.record({ type: 'connection.limit', state: 'cleared', limit: max, refused });
    },
  });

  /** Over the limit: the client hears it in its own protocol (once the connector can say it), then the socket closes. */
  function refuseConnection(socket: Socket, connector: ServiceConnector, service: string): void {
    socket.on('error', () => {});
    const err = new BrokerError('too_many_connections', `the broker has ${limit.limit} connections open, its limit (serve --max-connections); service '${service}' cannot take another now`);
    if (connector.refuse) connector.refuse(socket, err);
    socket.end();
    setTimeout(() => socket.destroy(), 2_000).unref();
  }

  async function start(config: ServiceConfig, inherit?: Pick<Running, 'listener' | 'route'>): Promise<void> {
    let connector: ServiceConnector;
    try {
      const def = options.connectors.get(config.connector)!;
      connector = def.create(config, def.spec.parseSettings(config.config), deps);
    } catch (err) {
      // Settings the loader would have refused (a config built in code): the service fails, the others run.
      const failure = `service '${config.name}': ${(err as Error).message}`;
      running.set(config.name, { config, route: { handle: refuse }, connections: new Set(), failure });
      if (inherit) await inherit.listener?.stopAccepting();
      logger.error('service failed to start', { service: config.name, reason: failure });
      audit.record({ type: 'service.failed', service: config.name, reason: failure });
      return;
    }
    const svc: Running = { config, connector, route: inherit?.route ?? { handle: refuse }, connections: new Set() };
    running.set(config.name, svc);
    const onConnection = (socket: Socket, client: ClientInfo) => {
      if (!limit.tryOpen()) return refuseConnection(socket, connector, config.name);
      const handle = handleConnection(socket, client, {
        service: config,
        connector,
        logger,
        audit,
        resolve: (connectionId, signal) => options.resolver.resolve(config.name, config.credentials, { signal, connectionId }),
        invalidateCredentials: () => options.resolver.invalidate(config.name),
        lookupPeer: options.lookupPeer,
        access,
        approve: options.approve,
      });
      svc.connections.add(handle);
      void handle.done.finally(() => {
        svc.connections.delete(handle);
        limit.close();
      });
    };
    svc.route.handle = onConnection;
    if (inherit?.listener) {
      svc.listener = inherit.listener;
      logger.info('service listening', { service: config.name, address: svc.listener.display, connector: config.connector, handedOver: true });
      audit.record({ type: 'service.started', service: config.name, address: svc.listener.display });
      return;
    }
    try {
      const route = svc.route;
      svc.listener = await listen(config.listenOn, (socket, client) => route.handle(socket, client), { allowRemote: config.allowRemote, logger });
      logger.info('service listening', { service: config.name, address: svc.listener.display, connector: config.connector });
      audit.record({ type: 'service.started', service: config.name, address: svc.listener.display });
    } catch (err) {
      svc.failure = (err as Error).message;
      svc.connector = undefined;
      void connector.close();
      logger.error('service failed to start', { service: config.name, reason: svc.failure });
      audit.record({ type: 'service.failed', service: config.name, reason: svc.failure });
    }
  }

  /** Stop accepting; then wait up to drainMs for open connections before aborting them. */
  async function stopService(name: string, drainMs: number): Promise<void> {
    const svc = running.get(name);
    if (!svc) return;
    running.delete(name);
    await svc.listener?.stopAccepting();
    await retire(svc, drainMs);
  }

  /** The instance's connections end (after drainMs), then its connector closes; `quiet` when a new instance already took over. */
  async function retire(svc: Running, drainMs: number, quiet = false): Promise<void> {
    const name = svc.config.name;
    // The connector lives until its last connection is over (a restart lets them finish in the background).
    const { over } = await drain(svc.connections, drainMs);
    const closed = over.then(() => svc.connector?.close()).catch((err: Error) => logger.warn('connector did not close cleanly', { service: name, reason: err.message }));
    if (drainMs !== Infinity) await closed;
    if (quiet) return;
    audit.record({ type: 'service.stopped', service: name });
    logger.info('service stopped', { service: name });
  }

  /**
   * A changed service's new instance takes over without refusing anyone: on the same
   * address it inherits the listening socket (connections accepted from then on go to
   * it), on a new one it binds before the old one closes. Open sessions finish on the old
   * instance.
   */
  async function restart(next: ServiceConfig): Promise<void> {
    const old = running.get(next.name);
    if (!old) return start(next);
    running.delete(next.name);
    audit.record({ type: 'service.stopped', service: next.name });
    logger.info('service stopped', { service: next.name, restarting: true });
    if (old.listener && displayAddress(old.config.listenOn) === displayAddress(next.listenOn) && !!old.config.allowRemote === !!next.allowRemote) {
      await start(next, old);
    } else {
      await start(next);
      // A new address that clashes with the old one (same port, another host): close, then bind.
      if (!running.get(next.name)?.listener && old.listener) {
        running.delete(next.name);
        await old.listener.stopAccepting();
        await start(next);
      }
      await old.listener?.stopAccepting();
    }
    void retire(old, Infinity, true);
  }

  return {
    async apply(next) {
      const diff = diffServices(current, next);
      current = next;
      await Promise.all(diff.removed.map((s) => stopService(s.name, options.drainMs ?? 10_000)));
      for (const s of diff.changed) if (!userStopped.has(s.name)) await restart(s);
      for (const s of diff.added) if (!userStopped.has(s.name)) await start(s);
    },
    status() {
      return current.services.map((s) => {
        const svc = running.get(s.name);
        const status: ServiceState = svc?.listener
          ? { state: 'listening', address: svc.listener.display }
          : svc?.failure
            ? { state: 'failed', reason: svc.failure }
            : { state: 'stopped' };
        return { name: s.name, connector: s.connector, listenOn: s.listenOn, connections: svc?.connections.size ?? 0, status };
      });
    },
    address: (name) => running.get(name)?.listener?.display,
    async stop(stopOptions) {
      const drainMs = stopOptions?.drainMs ?? options.drainMs ?? 10_000;
      await Promise.all([...running.keys()].map((name) => stopService(name, drainMs)));
      current = { version: '2', services: [] };
      if (!options.bastions) bastions.closeAll();
    },
    async startService(name) {
      const config = current.services.find((s) => s.name === name);
      if (!config) throw new Error(`no service named '${name}' in the config`);
      userStopped.delete(name);
      const svc = running.get(name);
      if (svc?.listener) return;
      if (svc) running.delete(name); // a failed start: try again
      await start(config);
    },
    async stopService(name, stopOptions) {
      if (!current.services.some((s) => s.name === name)) throw new Error(`no service named '${name}' in the config`);
      userStopped.add(name);
      const svc = running.get(name);
      if (svc && !svc.listener) {
        running.delete(name); // failed: nothing listens, just forget the failure
        return;
      }
      await stopService(name, stopOptions?.drainMs ?? 0);
    },
    stopped: () => [...userStopped],
    closeConnections() {
      let n = 0;
      for (const svc of running.values()) {
        for (const c of svc.connections) {
          c.abort();
          n++;
        }
      }
      return n;
    },
    maxConnections: limit.limit,
    config: () => current,
    async testService(name, testOptions) {
      const config = current.services.find((s) => s.name === name);
      if (!config) throw new Error(`no service named '${name}' in the config`);
      const connectionId = `test-${nextConnectionId()}`;
      const signal = AbortSignal.any([AbortSignal.timeout(TEST_TIMEOUT_MS), ...(testOptions?.signal ? [testOptions.signal] : [])]);
      const log = logger.child({ service: name, conn: connectionId });
      const started = performance.now();
      // A stopped or failed service has no connector instance: the test makes its own and closes it.
      const own = running.get(name)?.connector ? undefined : { connector: undefined as ServiceConnector | undefined };
      try {
        let connector = running.get(name)?.connector;
        if (!connector) {
          const def = options.connectors.get(config.connector)!;
          connector = own!.connector = def.create(config, def.spec.parseSettings(config.config), deps);
        }
        const resolveCredentials = () => options.resolver.resolve(name, config.credentials, { signal, connectionId });
        const r = connector.probe
          ? await connector.probe({ service: config, connectionId, signal, logger: log, audit, resolveCredentials })
          : await resolveCredentials().then(() => ({ target: 'credentials only (this connector authenticates per request)', authMethod: 'none' }));
        const latencyMs = Math.round(performance.now() - started);
        audit.record({ type: 'target.tested', service: name, connectionId, target: r.target, authMethod: r.authMethod, latencyMs });
        return { type: 'ok', latencyMs, target: r.target, authMethod: r.authMethod };
      } catch (err) {
        const e = toClientError(signal.aborted && !testOptions?.signal?.aborted ? timeoutError(name) : err);
        if (e.code === 'internal') log.error('target test failed', { reason: (err as Error)?.message ?? String(err) });
        audit.record({ type: 'target.test.failed', service: name, connectionId, code: e.code, reason: e.message });
        return { type: 'failed', code: e.code, reason: e.message };
      } finally {
        void own?.connector?.close().catch(() => {});
      }
    },
  };
}

function timeoutError(name: string): BrokerError {
  return new BrokerError('timeout', `the target of service '${name}' did not complete the login within ${TEST_TIMEOUT_MS / 1000} s`);
}

/** Waits up to drainMs, then aborts what is left; `over` settles when the connections are. */
async function drain(connections: Set<ConnectionHandle>, drainMs: number): Promise<{ over: Promise<void> }> {
  const all = Promise.all([...connections].map((c) => c.done)).then(() => {});
  // Keep the stop quick; the connections finish in the background.
  if (drainMs === Infinity) return { over: all };
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), drainMs)));
  const outcome = await Promise.race([all.then(() => 'drained' as const), timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    for (const c of connections) c.abort();
    await all;
  }
  return { over: all };
}
