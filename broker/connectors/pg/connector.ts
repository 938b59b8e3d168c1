// `connector: pg`: the client side (client-side.ts) reads the startup message, the
// target side (target-side.ts) logs in with the service's credentials, and the broker
// then pipes bytes. Per service it keeps the cancel-key registry.
import type { Socket } from 'node:net';
import type { ConnectorSpec } from '../../config/types.js';
import { createDbTunnel } from '../../ssh/db-tunnel.js';
import type { Connector, ServiceConnector } from '../types.js';
import { BackendErrorResponse } from './backend-auth.js';
import { createCancelRegistry } from './cancel.js';
import { clientReader, readClientStartup, STARTUP_TIMEOUT_MS, withTimeout, type ClientSide } from './client-side.js';
import { clientTlsFor } from '../../tls/client-tls.js';
import { encodeErrorResponse } from './codec.js';
import { openAuthenticated } from './target-side.js';
import { databaseChecks, DATABASE_CONFIG_KEYS } from '../database-settings.js';

export const pgSpec: ConnectorSpec = {
  name: 'pg',
  requiredCredentials: ['host', 'username'],
  knownCredentials: 'any',
  configKeys: DATABASE_CONFIG_KEYS,
  ...databaseChecks,
};

export const pgConnector: Connector = {
  spec: pgSpec,
  create(service, deps) {
    const cancels = createCancelRegistry();
    const timeouts = { connectMs: Number(service.config.connectTimeoutMs ?? 10_000), authMs: Number(service.config.authTimeoutMs ?? 30_000) };
    const clientTls = clientTlsFor(service, deps);
    // sshTunnel* credentials: reach the server through an SSH bastion (broker/ssh/db-tunnel.ts).
    const tunnel = createDbTunnel(service, deps.logger);
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
        const resolved = await ctx.resolveCredentials();
        const { creds, via } = tunnel ? tunnel.prepare(resolved) : { creds: resolved, via: undefined };
        const upstream = await openAuthenticated(side.socket, startup, creds, ctx, cancels, timeouts, via);
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

