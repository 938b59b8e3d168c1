// `connector: pg`. Client side: answer SSL/GSS requests with 'N', read the startup
// message, ignore the client's user and password. Target side: connect (TLS per
// sslmode), authenticate with the service's credentials, replay the session
// parameters to the client, then hand over for the plain byte pipe.
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import * as tls from 'node:tls';
import type { ConnectorSpec, ServiceConfig } from '../../config/types.js';
import type { ResolvedCredentials } from '../../credentials/types.js';
import { BrokerError } from '../../errors.js';
import { backendTlsSettings, upgradeToTls, type BackendTlsSettings } from '../../tls/backend-tls.js';
import { abortError } from '../abort.js';
import { describeTarget, dial } from '../dial.js';
import { createSocketReader, type SocketReader } from '../socket-reader.js';
import type { ConnectionContext, Connector, ConnectorDeps, ServiceConnector, Upstream } from '../types.js';
import { authenticateBackend, BackendErrorResponse } from './backend-auth.js';
import { createCancelRegistry, type CancelRegistry, type CancelTarget } from './cancel.js';
import {
  encodeAuthenticationOk,
  encodeCancelRequest,
  encodeErrorResponse,
  encodeSslRequest,
  encodeStartup,
  parseStartupPacket,
  PgProtocolError,
  ACCEPT_ENCRYPTION,
  REFUSE_ENCRYPTION,
  type StartupPacket,
} from './codec.js';

/** Credential keys with a meaning to the connector; any other key becomes a startup parameter. */
const CONNECTION_KEYS = ['host', 'port', 'username', 'password', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'sslhost'];

export const pgSpec: ConnectorSpec = {
  name: 'pg',
  requiredCredentials: ['host', 'username'],
  knownCredentials: 'any',
  configKeys: ['connectTimeoutMs', 'authTimeoutMs', 'clientTls', 'clientTlsCert', 'clientTlsKey'],
};

const STARTUP_TIMEOUT_MS = 30_000;

type Startup = Extract<StartupPacket, { type: 'startup' }>;

export const pgConnector: Connector = {
  spec: pgSpec,
  create(service, deps) {
    const cancels = createCancelRegistry();
    const timeouts = { connectMs: Number(service.config.connectTimeoutMs ?? 10_000), authMs: Number(service.config.authTimeoutMs ?? 30_000) };
    const clientTls = clientTlsFor(service, deps);
    // The socket errors go to, per client: the TLS socket once the client switched to TLS.
    const wrapped = new WeakMap<Socket, Socket>();
    const connector: ServiceConnector = {
      async connect(client, ctx) {
        const side: ClientSide = { socket: client, reader: clientReader(client, ctx) };
        const startup = await withTimeout(readClientStartup(side, cancels, clientTls, ctx), STARTUP_TIMEOUT_MS);
        if (side.socket !== client) wrapped.set(client, side.socket);
        if (!startup) {
          side.reader.detach();
          return null;
        }
        const creds = await ctx.resolveCredentials();
        const upstream = await openAuthenticated(side.socket, startup, creds, ctx, cancels, timeouts);
        upstream.clientPending = side.reader.detach();
        if (side.socket !== client) upstream.client = side.socket;
        return upstream;
      },
      writeError(client, err) {
        const socket = wrapped.get(client) ?? client;
        if (!socket.writable) return;
        if (err instanceof BackendErrorResponse) {
          socket.write(err.raw);
          return;
        }
        socket.write(encodeErrorResponse({ severity: 'FATAL', code: err.entry.pgSqlState, message: err.message }));
      },
    };
    return connector;
  },
};

interface ClientSide {
  socket: Socket;
  reader: SocketReader;
}

function clientReader(socket: Socket, ctx: ConnectionContext): SocketReader {
  return createSocketReader(socket, {
    signal: ctx.signal,
    closedError: () => new BrokerError('protocol_violation', 'the client closed the connection during startup'),
    abortedError: () => abortError(ctx.signal, ctx.service.name),
  });
}

/** Client-facing TLS is opt-in: `config.clientTls: true`, with the broker's local certificate or clientTlsCert/clientTlsKey. */
function clientTlsFor(service: ServiceConfig, deps: ConnectorDeps): (() => Promise<tls.SecureContext>) | undefined {
  const c = service.config;
  if (c.clientTls !== true && c.clientTls !== 'true') return undefined;
  let context: Promise<tls.SecureContext> | undefined;
  return () =>
    (context ??= (async () => {
      if (c.clientTlsCert && c.clientTlsKey)
        return tls.createSecureContext({ cert: await readFile(String(c.clientTlsCert)), key: await readFile(String(c.clientTlsKey)) });
      if (!deps.localCertificate) throw new BrokerError('internal', 'no local certificate available for client TLS');
      const local = await deps.localCertificate();
      return tls.createSecureContext({ cert: local.certPem, key: local.keyPem });
    })());
}

/** Answers 'S' and runs the TLS handshake as the server; later reads come from the TLS socket. */
async function acceptClientTls(side: ClientSide, context: tls.SecureContext, ctx: ConnectionContext): Promise<void> {
  // A client must wait for our answer before its ClientHello; bytes already here were injected in plain text.
  if (side.reader.detach().length) throw new BrokerError('protocol_violation', 'unexpected data after the SSL request');
  const secure = new tls.TLSSocket(side.socket, { isServer: true, secureContext: context });
  side.socket.write(ACCEPT_ENCRYPTION);
  await new Promise<void>((resolve, reject) => {
    secure.once('secure', resolve);
    secure.once('error', (err) => reject(new BrokerError('protocol_violation', `client TLS handshake failed: ${err.message}`)));
  });
  secure.on('error', () => {});
  side.socket = secure;
  side.reader = clientReader(secure, ctx);
}

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BrokerError('timeout', `no startup message within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function readClientStartup(
  side: ClientSide,
  cancels: CancelRegistry,
  clientTls: (() => Promise<tls.SecureContext>) | undefined,
  ctx: ConnectionContext,
): Promise<Startup | null> {
  // A client may ask for SSL and then GSS encryption before the startup message.
  for (let attempt = 0; attempt < 3; attempt++) {
    let packet: StartupPacket;
    try {
      packet = await side.reader.read(parseStartupPacket);
    } catch (err) {
      if (err instanceof PgProtocolError)
        throw new BrokerError(err.kind === 'too-large' ? 'packet_too_large' : 'protocol_violation', err.message);
      throw err;
    }
    switch (packet.type) {
      case 'ssl-request':
        if (clientTls && !(side.socket instanceof tls.TLSSocket)) await acceptClientTls(side, await clientTls(), ctx);
        else side.socket.write(REFUSE_ENCRYPTION);
        continue;
      case 'gssenc-request':
        side.socket.write(REFUSE_ENCRYPTION);
        continue;
      case 'cancel-request':
        await forwardCancel(packet.pid, packet.secret, cancels, ctx);
        side.socket.end();
        return null;
      case 'startup':
        return packet;
    }
  }
  throw new BrokerError('protocol_violation', 'too many encryption requests before the startup message');
}

async function forwardCancel(pid: number, secret: Buffer, cancels: CancelRegistry, ctx: ConnectionContext): Promise<void> {
  const hit = cancels.find(pid, secret);
  if (!hit) {
    ctx.logger.debug('cancel request for an unknown backend key dropped');
    return;
  }
  try {
    const socket = await hit.target.open(ctx.signal);
    socket.end(encodeCancelRequest(pid, secret));
    socket.on('error', () => socket.destroy());
    ctx.audit.record({ type: 'cancel.forwarded', service: ctx.service.name, connectionId: hit.connectionId });
  } catch (err) {
    ctx.logger.warn('could not forward a cancel request', { reason: (err as Error).message });
  }
}

interface TargetLink {
  socket: Socket | tls.TLSSocket;
  tlsSocket?: tls.TLSSocket;
}

function targetAddress(creds: ResolvedCredentials): { host: string; port: number; path?: string; display: string } {
  const host = creds.text('host')!;
  const portText = creds.text('port') ?? '5432';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new BrokerError('internal', `invalid target port '${portText}'`);
  const path = host.startsWith('/') ? `${host}/.s.PGSQL.${port}` : undefined;
  return { host, port, path, display: path ?? describeTarget(host, port) };
}

/** Connects and negotiates TLS per sslmode. Used for sessions and for cancel requests. */
async function openLink(addr: ReturnType<typeof targetAddress>, tls: BackendTlsSettings, service: string, signal: AbortSignal, timeoutMs: number): Promise<TargetLink> {
  const socket = await dial({ host: addr.host, port: addr.port, path: addr.path, signal, timeoutMs, service });
  if (tls.mode === 'disable' || addr.path) return { socket };
  socket.write(encodeSslRequest());
  const answer = await readOneByte(socket, signal, service);
  if (answer === 'S') {
    const secure = await upgradeToTls(socket, tls, addr.display, signal, () => abortError(signal, service));
    return { socket: secure, tlsSocket: secure };
  }
  if (answer === 'N' && tls.mode === 'prefer') return { socket };
  socket.destroy();
  if (answer === 'N') throw new BrokerError('tls_failed', `the target ${addr.display} does not accept TLS, but service '${service}' has sslmode ${tls.mode}`);
  throw new BrokerError('target_protocol_error', `the target ${addr.display} answered the SSL request with an unexpected byte`);
}

function readOneByte(socket: Socket, signal: AbortSignal, service: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = createSocketReader(socket, {
      signal,
      closedError: () => new BrokerError('target_unreachable', `the target of service '${service}' closed the connection during TLS negotiation`),
      abortedError: () => abortError(signal, service),
    });
    reader
      .read((b) => (b.length >= 1 ? { value: String.fromCharCode(b[0]!), consumed: 1 } : null))
      .then((v) => {
        // Anything after the one byte would be a server speaking before the TLS handshake (CVE-2021-23222): refuse it.
        const rest = reader.detach();
        if (rest.length) reject(new BrokerError('target_protocol_error', 'the target sent unexpected data after its SSL answer'));
        else resolve(v);
      }, reject);
  });
}

async function openAuthenticated(
  client: Socket,
  startup: Startup,
  creds: ResolvedCredentials,
  ctx: ConnectionContext,
  cancels: CancelRegistry,
  timeouts: { connectMs: number; authMs: number },
): Promise<Upstream> {
  const name = ctx.service.name;
  const addr = targetAddress(creds);
  const tls = await backendTlsSettings({
    sslmode: creds.text('sslmode'),
    defaultMode: 'require',
    host: addr.host,
    sslhost: creds.text('sslhost'),
    sslrootcert: creds.values.get('sslrootcert'),
    sslcert: creds.values.get('sslcert'),
    sslkey: creds.values.get('sslkey'),
  });
  // One deadline for connect, TLS and login: a target that accepts and then says nothing must not hang the client.
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(timeouts.authMs)]);
  const link = await openLink(addr, tls, name, signal, timeouts.connectMs);
  const username = creds.text('username')!;
  const reader = createSocketReader(link.socket, {
    signal,
    closedError: () => new BrokerError('target_unreachable', `the target ${addr.display} closed the connection during authentication`),
    abortedError: () => abortError(signal, name),
  });
  try {
    link.socket.write(encodeStartup(startupParams(startup, creds, username), startup.protocol));
    const auth = await authenticateBackend({
      reader,
      write: (b) => link.socket.write(b),
      service: name,
      username,
      password: creds.values.get('password'),
      tlsSocket: link.tlsSocket,
      warn: (m) => ctx.logger.warn(m, { service: name }),
    });
    // One write: AuthenticationOk plus the replayed parameters, key data and ReadyForQuery.
    client.write(Buffer.concat([encodeAuthenticationOk(), ...auth.replay]));
    const cancelTarget = cancelTargetFor(addr, tls, name, timeouts.connectMs);
    const unregister = auth.keyData ? cancels.add(auth.keyData.pid, auth.keyData.secret, cancelTarget, ctx.connectionId) : () => {};
    return {
      socket: link.socket,
      clientPending: Buffer.alloc(0),
      upstreamPending: reader.detach(),
      target: addr.display,
      tls: !!link.tlsSocket,
      authMethod: auth.authMethod,
      onClose: unregister,
    };
  } catch (err) {
    reader.detach();
    link.socket.destroy();
    throw err;
  }
}

/** Its own scope, so a held connection does not keep the handshake's values (credentials included) alive. */
function cancelTargetFor(addr: ReturnType<typeof targetAddress>, tls: BackendTlsSettings, service: string, timeoutMs: number): CancelTarget {
  return { open: async (signal) => (await openLink(addr, tls, service, signal, timeoutMs)).socket };
}

/** Client parameters minus user, then the service's extra credential keys (config wins), then the configured user. */
function startupParams(startup: Startup, creds: ResolvedCredentials, username: string): Map<string, string> {
  const params = new Map(startup.params);
  params.delete('user');
  for (const key of creds.values.keys()) if (!CONNECTION_KEYS.includes(key)) params.set(key, creds.text(key)!);
  params.set('user', username);
  return params;
}
