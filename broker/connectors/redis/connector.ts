// `connector: redis`. The client speaks first in RESP, so the broker logs in to the
// target as soon as a client connects (target-side.ts), without reading anything from
// the client: whatever the client sends meanwhile (a whole pipeline, even) waits in its
// socket and is forwarded in order once the login is done. Then the sockets are spliced,
// with one exception to the plain pipe: the client->server stream goes through the
// command scanner, which replaces AUTH and HELLO-with-AUTH per interception.ts.
import { databaseLiteralChecks, defineSettings, durationMs, type SettingsOf } from '../../config/setting-checks.js';
import { createDbTunnel, SSH_TUNNEL_KEYS, sshTunnelSetting } from '../../ssh/db-tunnel.js';
import type { ChunkFilter } from '../../splice.js';
import type { Connector, ConnectionContext, ServiceConnector, Upstream } from '../types.js';
import { createCommandScanner } from './command-scanner.js';
import { intercept, type BrokerLogin } from './interception.js';
import { RedisLoginError } from './login.js';
import { encodeError } from './resp.js';
import { loginTarget, REDIS_CREDENTIALS, REDIS_SSL_MODES } from './target-side.js';

const settingsDefinition = {
  connectTimeoutMs: durationMs(10_000),
  authTimeoutMs: durationMs(30_000),
  sshTunnel: sshTunnelSetting,
};

export type RedisSettings = SettingsOf<typeof settingsDefinition>;

const literalChecks = databaseLiteralChecks(REDIS_SSL_MODES);
const EMPTY = Buffer.alloc(0);

export const redisConnector: Connector<RedisSettings> = {
  spec: {
    name: 'redis',
    requiredCredentials: ['host'],
    knownCredentials: [...REDIS_CREDENTIALS, ...SSH_TUNNEL_KEYS],
    ...defineSettings(settingsDefinition),
    checkLiteral: (key, value) => (key === 'db' && !/^\s*\d+\s*$/.test(value) ? 'must be a database number (0, 1, ...)' : literalChecks(key, value)),
    form: {
      label: 'Redis',
      listenOn: 'tcp://127.0.0.1:16379',
      credentials: ['host', 'port', 'username', 'password', 'db', 'sslmode', 'sslrootcert'],
      hints: {
        host: { label: 'Host', placeholder: 'cache.example.com' },
        port: { label: 'Port', kind: 'number', default: '6379' },
        username: { label: 'ACL user', help: 'empty: the default user' },
        password: { label: 'Password', secret: true },
        db: { label: 'Database number', kind: 'number', default: '0' },
        sslmode: { label: 'TLS (sslmode)', kind: 'select', options: REDIS_SSL_MODES, default: 'disable' },
        sslrootcert: { label: 'CA certificate file', placeholder: '/path/to/ca.pem' },
        sslkey: { label: 'Client key file', secret: true },
      },
    },
  },
  create(service, settings, deps) {
    // sshTunnel* credentials: reach the server through an SSH bastion (broker/ssh/db-tunnel.ts).
    const tunnel = createDbTunnel(service, settings.sshTunnel, deps);
    const timeouts = { connectMs: settings.connectTimeoutMs, authMs: settings.authTimeoutMs };

    async function handshake(ctx: ConnectionContext): Promise<Upstream> {
      const resolved = await ctx.resolveCredentials();
      const prepared = tunnel ? tunnel.prepare(resolved) : { creds: resolved, via: undefined };
      const login = await loginTarget(prepared.creds, ctx, timeouts, prepared.via);
      return {
        type: 'upstream',
        socket: login.socket,
        clientPending: EMPTY,
        upstreamPending: login.pending,
        target: login.addr.display,
        tls: login.tls,
        authMethod: login.step.method,
        clientToTarget: interceptor(ctx, { username: login.settings.username, password: login.settings.password, aclUsers: login.step.aclUsers }),
      };
    }

    const connector: ServiceConnector = {
      connect(client, ctx) {
        return {
          handshake: handshake(ctx),
          writeError(err) {
            if (!client.writable) return;
            // The server's own prefix (NOAUTH, NOPERM...) says nothing secret: kept when the message is reduced to the catalog's (verboseClientErrors off).
            const login = err instanceof RedisLoginError ? err : err.cause instanceof RedisLoginError ? err.cause : undefined;
            const prefix = login?.prefix ?? err.entry.redis;
            client.write(encodeError(prefix, `secretless: ${err.message}`));
          },
        };
      },
      // Nothing is held per service beyond the connections themselves.
      close: async () => {},
      // As Redis's own "-ERR max number of clients reached": the client reads it as the answer to its first command.
      refuse(client, err) {
        client.write(encodeError(err.entry.redis, `secretless: ${err.message}`));
      },
      async probe(ctx) {
        const login = await handshake(ctx);
        // The login is the test; QUIT lets the server log a clean goodbye.
        login.socket.end(Buffer.from('*1\r\n$4\r\nQUIT\r\n'));
        return { target: login.target, authMethod: login.authMethod };
      },
    };
    return connector;
  },
};

/** The client->server filter of the data phase: the command scanner with the interception rule. */
function interceptor(ctx: ConnectionContext, login: BrokerLogin): ChunkFilter {
  const scanner = createCommandScanner({
    rewrite(args) {
      const result = intercept(args, login);
      if (result.type === 'forward') return null;
      if (result.record) {
        const { command, action, requestedUser } = result.record;
        ctx.logger.info(`client ${command} ${action} by the broker`, { requestedUser });
        ctx.audit.record({ type: 'command.intercepted', service: ctx.service.name, connectionId: ctx.connectionId, command, action, ...(requestedUser !== undefined ? { requestedUser } : {}) });
      }
      return result.bytes;
    },
    onProtocolError(reason) {
      ctx.logger.info('client sent a malformed request; the server rejects it and closes', { reason });
    },
  });
  // The native pump passes reads of plain commands itself while the scanner is idle.
  return Object.assign((chunk: Buffer) => scanner.push(chunk), { native: { kind: 'redis' as const, idle: () => scanner.idle() } });
}

