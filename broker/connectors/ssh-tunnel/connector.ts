// `connector: ssh-tunnel`: a local listener whose connections are forwarded as raw TCP
// to remoteHost:remotePort by an SSH bastion (like `ssh -N -L`), with the bastion's
// credentials from providers and one shared bastion connection per service.
import { BrokerError } from '../../errors.js';
import { readSshTarget, SSH_CREDENTIALS, sshTargetHints } from '../../ssh/target.js';
import type { ConnectionContext, Connector, ServiceConnector, Upstream } from '../types.js';
import { defineSettings, durationMs, flag, type SettingsOf } from '../../config/setting-checks.js';

const definition = {
  // Whether the bastion's host key is checked.
  insecureIgnoreHostKey: flag(),
  connectTimeoutMs: durationMs(20_000),
};

export const sshTunnelConnector: Connector<SettingsOf<typeof definition>> = {
  spec: {
    name: 'ssh-tunnel',
    requiredCredentials: ['address', 'user', 'remoteHost', 'remotePort'],
    knownCredentials: ['address', 'user', 'privateKey', 'passphrase', 'password', 'hostKey', 'remoteHost', 'remotePort'],
    ...defineSettings(definition),
    form: {
      label: 'SSH tunnel',
      listenOn: 'tcp://127.0.0.1:15433',
      credentials: ['address', 'user', 'privateKey', 'passphrase', 'password', 'hostKey', 'remoteHost', 'remotePort'],
      hints: {
        ...sshTargetHints('Bastion'),
        remoteHost: { label: 'Remote host', placeholder: 'db.internal', help: 'as the bastion resolves it' },
        remotePort: { label: 'Remote port', kind: 'number' },
      },
    },
  },
  create(service, settings, deps) {
    const { insecureIgnoreHostKey, connectTimeoutMs } = settings;
    if (insecureIgnoreHostKey) deps.logger.warn('service has insecureIgnoreHostKey: the bastion host key is NOT checked', { service: service.name });
    async function handshake(ctx: ConnectionContext): Promise<Upstream> {
      const creds = await ctx.resolveCredentials();
      const bastion = readSshTarget(creds, SSH_CREDENTIALS, { service: service.name, insecureIgnoreHostKey });
      const remoteHost = creds.text('remoteHost')!;
      const portText = creds.text('remotePort') ?? '';
      const remotePort = Number(portText);
      if (!Number.isInteger(remotePort) || remotePort < 1 || remotePort > 65535) {
        throw new BrokerError('config_invalid', `service '${service.name}': credential 'remotePort' is not a port number`);
      }
      const socket = await deps.bastions.forward(bastion, remoteHost, remotePort, { service: service.name, signal: ctx.signal, logger: ctx.logger, timeoutMs: connectTimeoutMs });
      const upstream: Upstream = {
        type: 'upstream',
        socket,
        clientPending: Buffer.alloc(0),
        upstreamPending: Buffer.alloc(0),
        target: `${remoteHost.includes(':') ? `[${remoteHost}]` : remoteHost}:${remotePort} via ${bastion.display}`,
        tls: false,
        authMethod: bastion.privateKey ? 'ssh-publickey' : 'ssh-password',
      };
      return upstream;
    }
    const connector: ServiceConnector = {
      // No writeError: raw TCP has no way to carry a message; the client sees the connection close, the log and audit say why.
      connect: (_client, ctx) => ({ handshake: handshake(ctx) }),
      // The bastion connections belong to the broker's pool (shared, closed idle or with the broker).
      close: async () => {},
      async probe(ctx) {
        // Bastion login plus the forwarded TCP connect: what a client connection needs.
        const upstream = await handshake(ctx);
        upstream.socket.destroy();
        return { target: upstream.target, authMethod: upstream.authMethod };
      },
    };
    return connector;
  },
};
