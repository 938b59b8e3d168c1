// `connector: ssh`: the broker is an SSH server on the service's listener. A client
// that proves a key the service authorizes (client-auth.ts) is accepted only after the
// broker has logged into the target with the configured credentials; the channels are
// then bridged to that upstream connection (session.ts). Failures reach the ssh client
// as an SSH disconnect message.
import type { Socket } from 'node:net';
import ssh2 from 'ssh2';
import type { AuthContext, Client, Connection } from 'ssh2';
import { BrokerError, clientErrorFor, toClientError } from '../../errors.js';
import { plainDisconnect, sendDisconnect } from '../../ssh/disconnect.js';
import { ensureSshHostKey, type SshHostKey } from '../../ssh/host-key.js';
import { readSshTarget, SSH_CREDENTIALS, sshTargetHints } from '../../ssh/target.js';
import { transportSocket } from '../../ssh/ssh2-internals.js';
import { connectSsh } from '../../ssh/upstream.js';
import { abortError } from '../../net/abort.js';
import type { ConnectionContext, Connector, ServedConnection, ServiceConnector } from '../types.js';
import { ClientAgentRelay } from './agent-forward.js';
import { clientAuthFor, type ClientAuth } from './client-auth.js';
import { bridge } from './session.js';
import { defineSettings, durationMs, flag, oneOf, optionalPath, SettingsError, type SettingsOf } from '../../config/setting-checks.js';

/** Like sshd's LoginGraceTime: a client that has not authenticated by then is dropped (config.authTimeoutMs). */
const LOGIN_GRACE_MS = 60_000;

const definition = {
  clientAuth: oneOf(['publickey', 'none'], 'publickey'),
  authorizedKeys: { check: checkAuthorizedKeys, read: (v: unknown) => v },
  // Whether the SSH target's host key is checked.
  insecureIgnoreHostKey: flag(),
  allowRemoteForwarding: flag(),
  allowAgentForwarding: flag(),
  connectTimeoutMs: durationMs(20_000),
  authTimeoutMs: durationMs(LOGIN_GRACE_MS),
  // Where the broker's host key lives; absent: the broker's state directory (sshHostKeyDir).
  hostKeyDir: optionalPath(),
  // The host name copied ssh commands and the known_hosts line use (ssh -o HostKeyAlias=…).
  hostAlias: {
    check: (v: unknown) => (typeof v === 'string' && /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(v) ? undefined : 'must be a host name (letters, digits, ., _, -)'),
    read: (v: unknown) => v as string | undefined,
  },
};

export type SshSettings = SettingsOf<typeof definition>;

/** The directory of a service's host key: its hostKeyDir, else the broker's state directory. */
export const sshHostKeyDir = (settings: Pick<SshSettings, 'hostKeyDir'>, stateDir: string): string => settings.hostKeyDir ?? stateDir;

/** authorizedKeys: a path, a key line, or a list of key lines (client-auth.ts reads them). */
function checkAuthorizedKeys(value: unknown): string | undefined {
  const auth = clientAuthFor({ authorizedKeys: value });
  return typeof auth === 'string' ? auth.replace(/^config\.authorizedKeys:? ?/, '') : undefined;
}

export const sshConnector: Connector<SshSettings> = {
  spec: {
    name: 'ssh',
    // hostKey is enforced per connection, where insecureIgnoreHostKey can waive it.
    requiredCredentials: ['address', 'user'],
    knownCredentials: ['address', 'user', 'privateKey', 'passphrase', 'password', 'hostKey'],
    ...defineSettings(definition),
    form: {
      label: 'SSH',
      listenOn: 'tcp://127.0.0.1:2222',
      credentials: ['address', 'user', 'privateKey', 'passphrase', 'password', 'hostKey'],
      config: ['hostAlias', 'authorizedKeys'],
      hints: {
        ...sshTargetHints('Host'),
        hostAlias: { label: 'Host alias', help: 'the name copied ssh commands and the known_hosts line use' },
        authorizedKeys: { label: 'Client keys allowed', placeholder: '~/.ssh/id_ed25519.pub', help: 'a public key file or key line; empty: ~/.ssh/authorized_keys and ~/.ssh/*.pub' },
      },
    },
  },
  create(service, settings, deps) {
    const auth = clientAuthFor(settings);
    if (typeof auth === 'string') throw new SettingsError(auth);
    const clientAuth: ClientAuth = auth;
    const { insecureIgnoreHostKey, allowRemoteForwarding, allowAgentForwarding, connectTimeoutMs } = settings;
    const loginGraceMs = settings.authTimeoutMs;
    const hostKeyDir = sshHostKeyDir(settings, deps.stateDir);
    if (insecureIgnoreHostKey) deps.logger.warn('service has insecureIgnoreHostKey: the SSH target host key is NOT checked', { service: service.name });
    if (clientAuth.type === 'none') {
      deps.logger.warn("service has clientAuth: none: anyone who can reach the listener gets a shell as the target user", { service: service.name });
    }

    let server: Promise<{ server: InstanceType<typeof ssh2.Server>; hostKey: SshHostKey }> | undefined;
    const waiting = new Map<Socket, (conn: Connection) => void>();
    const getServer = () =>
      (server ??= ensureSshHostKey(hostKeyDir).then((hostKey) => {
        const srv = new ssh2.Server({ hostKeys: [hostKey.privateKey], ident: 'SecretlessDesktop' }, () => {});
        srv.on('connection', (conn: Connection) => {
          // Attached here, synchronously: ssh2 emits 'connection' on the client's version
          // line and goes on parsing the rest of that chunk at once, so a malformed packet
          // right behind the banner would otherwise be an uncaught 'error' (a broker crash).
          conn.on('error', (err) => deps.logger.debug('ssh client transport error', { service: service.name, reason: err.message }));
          const sock = transportSocket(conn);
          if (!sock) return;
          waiting.get(sock)?.(conn);
          waiting.delete(sock);
        });
        deps.logger.info('ssh service host key', { service: service.name, fingerprint: hostKey.fingerprint });
        return { server: srv, hostKey };
      }));

    async function handshake(socket: Socket, ctx: ConnectionContext): Promise<ServedConnection> {
      const { server: srv } = await getServer();
      const conn = await new Promise<Connection>((resolve, reject) => {
        // A client that never sends its SSH version line is dropped like one that never logs in.
        const timer = setTimeout(() => socket.destroy(), loginGraceMs);
        waiting.set(socket, (c) => {
          clearTimeout(timer);
          resolve(c);
        });
        socket.once('close', () => {
          clearTimeout(timer);
          waiting.delete(socket);
          reject(new BrokerError('protocol_violation', 'the client closed the connection before the SSH handshake'));
        });
        srv.injectSocket(socket);
      });
      return serve(conn, ctx, clientAuth, { insecureIgnoreHostKey, allowRemoteForwarding, allowAgentForwarding, connectTimeoutMs, loginGraceMs });
    }

    const connector: ServiceConnector = {
      // No writeError: serve() owns the transport and sends failures as SSH disconnect messages.
      connect: (socket, ctx) => ({ handshake: handshake(socket, ctx) }),
      // The host key server only parses injected sockets (it never listens); connections end on their own.
      close: async () => waiting.clear(),
      // Before any key exchange: OpenSSH shows the message as "Received disconnect from ...".
      refuse(client, err) {
        client.write(plainDisconnect(err.entry.sshDisconnect, err.message));
      },
      async probe(ctx) {
        const creds = await ctx.resolveCredentials();
        const t = readSshTarget(creds, SSH_CREDENTIALS, { service: service.name, insecureIgnoreHostKey });
        const upstream = await connectSsh(t, { service: service.name, signal: ctx.signal, logger: ctx.logger, timeoutMs: connectTimeoutMs });
        upstream.end();
        return { target: t.display, authMethod: t.privateKey ? 'ssh-publickey' : 'ssh-password' };
      },
    };
    return connector;
  },
};

interface ServeOptions {
  insecureIgnoreHostKey: boolean;
  allowRemoteForwarding: boolean;
  allowAgentForwarding: boolean;
  connectTimeoutMs: number;
  loginGraceMs: number;
}

function serve(conn: Connection, ctx: ConnectionContext, clientAuth: ClientAuth, opts: ServeOptions): Promise<ServedConnection> {
  const name = ctx.service.name;
  const log = ctx.logger;
  return new Promise((resolve, reject) => {
    let upstream: Client | undefined;
    let target = '';
    let authMethod = '';
    let settled = false;
    let loggingIn = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(grace);
      const clientError = clientErrorFor(toClientError(err), ctx.service, ctx.connectionId);
      sendDisconnect(conn, clientError.entry.sshDisconnect, clientError.message);
      upstream?.end();
      reject(err);
    };
    const grace = setTimeout(() => fail(new BrokerError('timeout', `the client did not authenticate to service '${name}' in time`)), opts.loginGraceMs);
    const onAbort = () => {
      if (!settled) fail(abortError(ctx.signal, name));
      else conn.end();
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    conn.on('close', () => {
      if (!settled) {
        settled = true;
        clearTimeout(grace);
        upstream?.end();
        reject(new BrokerError('protocol_violation', 'the client closed the connection before authenticating'));
      }
    });

    // The upstream login happens once the client is authenticated, before accepting it.
    const loginUpstream = async (actx: AuthContext) => {
      loggingIn = true;
      log.debug('ssh client authenticated to the broker', { method: actx.method, clientUser: actx.username });
      try {
        const creds = await ctx.resolveCredentials();
        const t = readSshTarget(creds, SSH_CREDENTIALS, { service: name, insecureIgnoreHostKey: opts.insecureIgnoreHostKey });
        target = t.display;
        authMethod = t.privateKey ? 'ssh-publickey' : 'ssh-password';
        // Only `agent`: ssh2's connect-level agentForward would request forwarding for every
        // session; session.ts asks per session, when the client itself asked.
        const extra = opts.allowAgentForwarding ? { agent: new ClientAgentRelay(conn) } : undefined;
        upstream = await connectSsh(t, { service: name, signal: ctx.signal, logger: log, timeoutMs: opts.connectTimeoutMs, extra });
      } catch (err) {
        return fail(err);
      }
      if (settled) return upstream.end();
      actx.accept();
    };

    conn.on('authentication', (actx) => {
      if (settled || loggingIn) return actx.reject();
      if (clientAuth.type === 'none') return void loginUpstream(actx);
      if (actx.method !== 'publickey') return actx.reject(['publickey']);
      void clientAuth.load().then((keys) => {
        if (keys.length === 0) log.warn('no authorized client keys found; every client is refused', { source: clientAuth.source });
        const match = keys.find((k) => k.blob.equals(actx.key.data));
        if (!match) return actx.reject(['publickey']);
        // The key query without a signature gets PK_OK; the signed request proves possession.
        if (!actx.signature) return actx.accept();
        if (!match.key.verify(actx.blob!, actx.signature, actx.hashAlgo)) return actx.reject(['publickey']);
        void loginUpstream(actx);
      }, fail);
    });

    conn.once('ready', () => {
      settled = true;
      clearTimeout(grace);
      const done = bridge(conn, upstream!, { allowRemoteForwarding: opts.allowRemoteForwarding, allowAgentForwarding: opts.allowAgentForwarding, logger: log }).finally(() =>
        ctx.signal.removeEventListener('abort', onAbort),
      );
      resolve({ type: 'served', target, tls: false, authMethod, done });
    });
  });
}
