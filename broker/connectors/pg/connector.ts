// `connector: pg`: the client side (client-side.ts) reads the startup message, the
// target side (target-side.ts) logs in with the service's credentials, and the broker
// then pipes bytes. Per service it keeps the cancel-key registry.
import type { Socket } from 'node:net';
import { createDbTunnel } from '../../ssh/db-tunnel.js';
import type { Connector, ConnectionContext, Handshake, ServiceConnector } from '../types.js';
import { BackendErrorResponse } from './backend-auth.js';
import { createCancelRegistry, type CancelRegistry } from './cancel.js';
import { BrokerError } from '../../errors.js';
import { withDeadline } from '../../net/deadline.js';
import { createLoginLimit } from '../login-limit.js';
import { clientReader, readClientStartup, STARTUP_TIMEOUT_MS, type ClientSide, type Startup } from './client-side.js';
import { clientTlsFor } from '../../tls/client-tls.js';
import { encodeErrorResponse, PROTOCOL_3_0 } from './codec.js';
import { openAuthenticated } from './target-side.js';
import { databaseForm, databaseSettings, defaultDatabase, type DatabaseSettings } from '../database-settings.js';

/** The Terminate message ('X'): a probe leaves the target politely. */
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);

export const pgConnector: Connector<DatabaseSettings> = {
  spec: {
    name: 'pg',
    requiredCredentials: ['host', 'username'],
    knownCredentials: 'any',
    ...databaseSettings,
    form: { ...databaseForm('PostgreSQL', 5432), extraCredentials: 'startup parameters sent to PostgreSQL (application_name, search_path, …)' },
  },
  create(service, settings, deps) {
    const cancels = createCancelRegistry();
    const timeouts = { connectMs: settings.connectTimeoutMs, authMs: settings.authTimeoutMs };
    const clientTls = clientTlsFor(settings, deps);
    // sshTunnel* credentials: reach the server through an SSH bastion (broker/ssh/db-tunnel.ts).
    const tunnel = createDbTunnel(service, settings.sshTunnel, deps);
    const logins = createLoginLimit(service.name, settings.maxConcurrentLogins);

    async function handshake(side: ClientSide, ctx: ConnectionContext, cancels: CancelRegistry): Promise<Handshake> {
      const client = side.socket;
      const startup = await withDeadline(
        readClientStartup(side, cancels, clientTls, ctx),
        STARTUP_TIMEOUT_MS,
        () => new BrokerError('timeout', `no startup message within ${STARTUP_TIMEOUT_MS / 1000} s`),
      );
      if (!startup) {
        side.reader.detach();
        return null;
      }
      const release = logins.acquire();
      let upstream;
      try {
        const resolved = await ctx.resolveCredentials();
        const { creds, via } = tunnel ? tunnel.prepare(resolved) : { creds: resolved, via: undefined };
        upstream = await openAuthenticated(side.socket, startup, creds, ctx, cancels, timeouts, via);
      } finally {
        release();
      }
      upstream.clientPending = side.reader.detach();
      if (side.socket !== client) upstream.client = side.socket;
      return upstream;
    }

    const connector: ServiceConnector = {
      connect(client: Socket, ctx) {
        // side.socket becomes the TLS socket once the client switched to TLS: errors go there.
        const side: ClientSide = { socket: client, reader: clientReader(client, ctx) };
        return {
          handshake: handshake(side, ctx, cancels),
          writeError(err) {
            if (!side.socket.writable) return;
            if (err instanceof BackendErrorResponse) return void side.socket.write(err.raw);
            // A redacted target error (clientErrorFor) keeps the target's SQLSTATE: drivers act on it (3D000: create the database).
            const code = err.cause instanceof BackendErrorResponse ? err.cause.sqlState : err.entry.pgSqlState;
            side.socket.write(encodeErrorResponse({ severity: 'FATAL', code, message: err.message }));
          },
        };
      },
      // Cancel keys die with their sessions; nothing else is held per service.
      close: async () => {},
      // PostgreSQL answers "too many clients" with a FATAL ErrorResponse; libpq reads it
      // after sending its startup packet (or as the answer to its SSLRequest). Given the
      // connection's ctx, the SSL request is answered first and the error follows the
      // startup message, as pg_hba.conf rejections do: libpq (since 15.10, 16.6, 17.2)
      // does not show an error sent in answer to the SSL request.
      async refuse(client, err, ctx) {
        const fatal = (socket: Socket) => socket.write(encodeErrorResponse({ severity: 'FATAL', code: err.entry.pgSqlState, message: err.message }));
        if (!ctx) return void fatal(client);
        const side: ClientSide = { socket: client, reader: clientReader(client, ctx) };
        // No cancel keys: a refused client cannot cancel anyone's query.
        const startup = await withDeadline(readClientStartup(side, createCancelRegistry(), clientTls, ctx), STARTUP_TIMEOUT_MS, () => new BrokerError('timeout', 'no startup message'));
        side.reader.detach();
        if (startup) fatal(side.socket);
        if (side.socket !== client) side.socket.end();
      },
      async probe(ctx) {
        const resolved = await ctx.resolveCredentials();
        const { creds, via } = tunnel ? tunnel.prepare(resolved) : { creds: resolved, via: undefined };
        // The database the copied connection strings name: a login proves it exists too.
        const startup: Startup = { type: 'startup', protocol: PROTOCOL_3_0, params: new Map([['database', defaultDatabase(service) ?? 'postgres']]) };
        const upstream = await openAuthenticated({ write: () => true }, startup, creds, ctx, cancels, timeouts, via);
        upstream.socket.end(TERMINATE);
        upstream.onClose?.();
        return { target: upstream.target, authMethod: upstream.authMethod };
      },
    };
    return connector;
  },
};
