// `connector: http` (and Secretless Broker's `basic_auth`, `generic_http`, `aws`): an
// HTTP proxy that adds the service's credential to every request. The broker's
// listener hands each client socket to Node's HTTP parser (one per connection, bound to
// that connection's context), which parses requests with Node's limits (400 for
// malformed, 431 for huge headers, 408 for slowloris); each request then goes upstream
// through the service's pooled undici dispatcher with the client's own credentials
// stripped and the broker's added (proxy-request.ts).
import type { Socket } from 'node:net';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ServiceConfig } from '../../config/types.js';
import { SettingsError } from '../../config/setting-checks.js';
import { BrokerError } from '../../errors.js';
import type { ConnectionContext, Connector, ConnectorDeps, ServedConnection, ServiceConnector } from '../types.js';
import { createAuthMechanism } from './auth.js';
import { createFastLane } from './fast-lane.js';
import { createCredentialCache, proxyRequest, proxyUpgrade, type RequestContext } from './proxy-request.js';
import { errorBody, writeRawError } from './respond.js';
import { checkHttpService, chooseAuth, HTTP_CONFIG_KEYS, parseHttpConfig, type HttpConfig, type HttpConnectorName } from './settings.js';
import { createUpstreamPool } from './upstream-pool.js';

/** What a client refused over the connection limit is told to wait before trying again. */
const RETRY_AFTER_SECONDS = 5;

/** Largest request head accepted (Node's default is 16 KiB); larger gets 431. */
const MAX_HEADER_BYTES = 32 * 1024;

export function httpConnector(name: HttpConnectorName): Connector<HttpConfig> {
  return {
    spec: {
      name,
      requiredCredentials: name === 'basic_auth' ? ['username', 'password'] : name === 'aws' ? ['accessKeyId', 'secretAccessKey'] : [],
      // Template variables are credential names of the user's choosing.
      knownCredentials: 'any',
      configKeys: HTTP_CONFIG_KEYS,
      unsupportedSettings: {
        oauth1:
          "OAuth 1.0a request signing (Secretless Broker's generic_http `oauth1`) is not supported: the broker would send these requests unsigned. " +
          'Use `headers:` templates or a bearer `token` if the API accepts them, or keep this service on Secretless Broker',
      },
      checkService: (service) => checkHttpService(name, service.config, service.credentials),
      parseSettings(raw) {
        const { config, issues } = parseHttpConfig(name, raw);
        if (!config) throw new SettingsError(issues.map((i) => `config.${i.key}: ${i.message}`).join('; '));
        return config;
      },
    },
    create: (service, config, deps) => createHttpService(service, config, deps),
  };
}

function createHttpService(service: ServiceConfig, settings: HttpConfig, deps: ConnectorDeps): ServiceConnector {
  const { auth, issues } = chooseAuth(settings, Object.keys(service.credentials), service.config);
  // The loader reports these with lines; reaching here means a config built in code.
  if (!auth) throw new SettingsError(issues.map((i) => `${i.key}: ${i.message}`).join('; '));
  const mechanism = createAuthMechanism(auth);
  const pool = createUpstreamPool({ verify: settings.verify, connectTimeoutMs: settings.connectTimeoutMs });
  const target = settings.mode.type === 'reverse' ? settings.mode.upstream.host : 'forward proxy';
  const tls = settings.mode.type === 'reverse' ? settings.mode.upstream.protocol === 'https:' : settings.mode.forceSSL;
  const lane = createFastLane({ settings, mechanism });
  return {
    connect(client: Socket, ctx: ConnectionContext) {
      const rc: RequestContext = {
        ctx,
        settings,
        mechanism,
        pool,
        credentials: createCredentialCache(ctx, settings),
        local: localOrigin(service),
        record: (r) => ctx.audit.record({ type: 'http.request', service: service.name, connectionId: ctx.connectionId, bytesIn: 0, bytesOut: 0, durationMs: 0, ...r }),
        moved: { fromClient: 0, toClient: 0 },
      };
      let server: Server | undefined;
      const toNode = () => {
        server = serveConnection(rc);
        server.emit('connection', client);
      };
      const done = new Promise<void>((resolve) =>
        client.once('close', () => {
          server?.close();
          resolve();
        }),
      );
      if (!lane) toNode();
      else {
        lane.serve(client, rc, (pending) => {
          if (pending) client.unshift(pending);
          toNode();
          client.resume();
        });
      }
      const served: ServedConnection = { type: 'served', target, tls, authMethod: mechanism.name, done, bytesMoved: () => rc.moved };
      // No writeError: errors are answered per request (proxy-request.ts); the handshake cannot fail.
      return { handshake: Promise.resolve(served) };
    },
    // Answered before the request is read: curl and SDKs read a response that comes early.
    // Over the connection limit it is a 503 with Retry-After, as an overloaded server says.
    refuse(client, err) {
      client.resume(); // the request is read and dropped, so closing does not reset the answer
      writeRawError(client, errorBody(err), undefined, err.code === 'too_many_connections' ? { 'retry-after': String(RETRY_AFTER_SECONDS) } : {});
    },
    async close() {
      lane?.close();
      await pool.close();
      deps.logger.debug('http service closed', { service: service.name });
    },
  };
}

/**
 * Node's HTTP parser for one client connection, its handlers bound to that connection's
 * context. It parses requests with Node's limits (400 malformed, 431 huge head, 408 slow
 * head) and never listens: the broker's listener accepted the socket.
 */
function serveConnection(rc: RequestContext): Server {
  const { settings } = rc;
  const server = createServer({
    maxHeaderSize: MAX_HEADER_BYTES,
    headersTimeout: settings.headerTimeoutMs,
    // Bodies may take long (1 GB uploads): only the head has a deadline.
    requestTimeout: 0,
    connectionsCheckingInterval: Math.min(1_000, settings.headerTimeoutMs / 2),
    keepAliveTimeout: 5_000,
  });
  // Node checks the header deadline only on servers that emitted 'listening'; this one
  // never listens, so start those checks by hand (close() stops them).
  server.emit('listening');
  server.on('request', (req, res) => void proxyRequest(req, res, rc));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void proxyUpgrade(req, socket, head, rc));
  server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    const message =
      `CONNECT ${req.url ?? ''} refused: the broker cannot add credentials inside a TLS tunnel. ` +
      'Send http:// URLs through this proxy and set `forceSSL: true` on the service so the broker uses HTTPS upstream, or use `upstream:` (reverse-proxy mode).';
    rc.record({ method: 'CONNECT', host: req.url ?? '', path: '', status: 405, outcome: 'command_refused' });
    writeRawError(socket, errorBody(new BrokerError('command_refused', message), 405), req.headers.accept, { allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS' });
  });
  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    const [status, code, message] =
      err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'packet_too_large', `request head larger than ${MAX_HEADER_BYTES} bytes`] as const
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'ERR_HTTP_HEADERS_TIMEOUT' ? [408, 'timeout', `request head not received within ${settings.headerTimeoutMs} ms`] as const
      : [400, 'protocol_violation', 'malformed HTTP request'] as const;
    rc.ctx.logger.info('http client sent a bad request', { status, reason: err.code ?? 'error' });
    // A reset or half-sent request has nobody left to answer.
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    writeRawError(socket, errorBody(new BrokerError(code, message), status));
  });
  return server;
}

/** The broker's own origin for a service, for Location headers when the client sent no Host. */
function localOrigin(service: ServiceConfig): string {
  const l = service.listenOn;
  if (l.type === 'unix') return 'http://localhost';
  return `http://${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`;
}
