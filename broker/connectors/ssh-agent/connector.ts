// `connector: ssh-agent`: serves the ssh-agent protocol on a 0600 Unix socket with keys
// from providers (SSH_AUTH_SOCK=<socket> ssh/git/scp). Read-only: requests to add,
// remove, lock or unlock are refused. Every signature is audited with the key's
// fingerprint and, where the OS tells, the client's pid.
import type { Socket } from 'node:net';
import type { ClientInfo } from '../../audit/types.js';
import { defineSettings } from '../../config/setting-checks.js';
import { BrokerError } from '../../errors.js';
import { lookupPeer } from '../../listeners/peer.js';
import type { ConnectionContext, Connector, ServedConnection, ServiceConnector } from '../types.js';
import { AgentFrameError, encodeFailure, encodeIdentities, encodeSignResponse, parseRequest, readFrames, type AgentRequest } from './codec.js';
import { createKeyring, type AgentKey, type Keyring } from './keyring.js';

export const sshAgentConnector: Connector<Record<string, never>> = {
  spec: {
    name: 'ssh-agent',
    requiredCredentials: [],
    knownCredentials: 'any',
    ...defineSettings({}),
    form: {
      label: 'SSH agent',
      listenOn: 'unix:///tmp/secretless-agent.sock',
      // Every credential is a key; `<name>Passphrase` is the passphrase of key <name>.
      credentials: ['key', 'keyPassphrase'],
      hints: {
        key: { label: 'Private key', secret: true, kind: 'multiline', help: 'each credential is one key the agent serves' },
        keyPassphrase: { label: 'Key passphrase', secret: true },
      },
    },
  },
  create(service) {
    const keyring = createKeyring(service);
    const connector: ServiceConnector = {
      // Approval is per key and program, asked before each signature (listing keys needs none).
      asksApprovalItself: true,
      // No writeError: the agent protocol has no error text; the client just sees the socket close.
      connect(socket, ctx) {
        // Anyone who can connect can sign with the keys: only a 0600 socket keeps that to the user.
        if (service.listenOn.type !== 'unix') return { handshake: Promise.reject(new BrokerError('config_invalid', `service '${service.name}': an ssh-agent must listen on a unix:// socket`)) };
        return { handshake: Promise.resolve(serveAgent(socket, ctx, keyring)) };
      },
      // The keys are loaded per connection; nothing is held per service.
      close: async () => {},
      async probe(ctx) {
        const keys = keyring.load(await ctx.resolveCredentials(), ctx.logger);
        if (keys.length === 0) throw new BrokerError('provider_failed', `service '${service.name}': none of its keys could be read`);
        return { target: `${keys.length} key${keys.length === 1 ? '' : 's'}`, authMethod: 'ssh-agent' };
      },
    };
    return connector;
  },
};

function serveAgent(socket: Socket, ctx: ConnectionContext, keyring: Keyring): ServedConnection {
  const log = ctx.logger;
  const name = ctx.service.name;
  let keys: Promise<AgentKey[]> | undefined;
  let peer: Promise<ClientInfo> | undefined;
  const loadKeys = () => (keys ??= ctx.resolveCredentials().then((creds) => keyring.load(creds, log)));
  const client = () => (peer ??= lookupPeer(socket).then((p) => ({ transport: 'unix' as const, ...p })));

  async function answer(req: AgentRequest): Promise<Buffer> {
    switch (req.type) {
      case 'request-identities':
        return encodeIdentities((await loadKeys()).map((k) => ({ blob: k.key.publicBlob, comment: k.name })));
      case 'sign': {
        const match = (await loadKeys()).find((k) => k.key.publicBlob.equals(req.keyBlob));
        if (!match) {
          ctx.audit.record({ type: 'ssh-agent.refused', service: name, connectionId: ctx.connectionId, request: 'sign with a key this agent does not hold' });
          return encodeFailure();
        }
        if (ctx.approve) {
          try {
            await ctx.approve({ name: match.name, fingerprint: match.key.fingerprint });
          } catch (err) {
            if (!(err instanceof BrokerError) || err.code !== 'not_approved') throw err;
            ctx.audit.record({ type: 'ssh-agent.refused', service: name, connectionId: ctx.connectionId, request: `sign with ${match.key.fingerprint} ${match.name}: not approved` });
            return encodeFailure();
          }
        }
        const signature = match.key.sign(req.data, req.flags);
        ctx.audit.record({ type: 'ssh-agent.signed', service: name, connectionId: ctx.connectionId, key: `${match.key.fingerprint} ${match.name}`, client: await client() });
        log.info('ssh-agent signed', { key: match.name, fingerprint: match.key.fingerprint });
        return encodeSignResponse(signature);
      }
      case 'mutation':
        ctx.audit.record({ type: 'ssh-agent.refused', service: name, connectionId: ctx.connectionId, request: req.name });
        log.info('ssh-agent refused a request: the agent is read-only', { request: req.name });
        return encodeFailure();
      case 'extension':
        // e.g. session-bind@openssh.com: answering failure is what agents without it do.
        log.debug('ssh-agent extension not supported', { extension: req.name });
        return encodeFailure();
      default:
        log.debug('ssh-agent request not supported', { code: req.code });
        return encodeFailure();
    }
  }

  const done = new Promise<void>((resolve) => {
    let pending: Buffer = Buffer.alloc(0);
    // Requests are answered in order, one at a time.
    let queue = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        const split = readFrames(pending.length ? Buffer.concat([pending, chunk]) : chunk);
        frames = split.messages.map((m) => Buffer.from(m));
        pending = Buffer.from(split.rest);
      } catch (err) {
        if (!(err instanceof AgentFrameError)) throw err;
        log.info('ssh-agent client sent a malformed message; closing', { reason: err.message });
        socket.destroy();
        return;
      }
      for (const message of frames) {
        queue = queue
          .then(() => answer(parseRequest(message)))
          .then(
            (reply) => void (socket.writable && socket.write(reply)),
            (err: unknown) => {
              // A provider failure: the client gets SSH_AGENT_FAILURE, the log says why.
              log.warn('ssh-agent request failed', { reason: err instanceof BrokerError ? err.message : 'internal error' });
              keys = undefined;
              if (socket.writable) socket.write(encodeFailure());
            },
          );
      }
    });
    socket.once('close', () => resolve());
    ctx.signal.addEventListener('abort', () => socket.destroy(), { once: true });
  });
  return { type: 'served', target: 'ssh-agent', tls: false, authMethod: 'unix-socket', done };
}
