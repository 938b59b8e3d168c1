// `connector: ssh-tunnel`: a local listener whose connections are forwarded as raw TCP
// to remoteHost:remotePort by an SSH bastion (like `ssh -N -L`), with the bastion's
// credentials from providers and one shared bastion connection per service.
import type { ConnectorSpec } from '../../config/types.js';
import { BrokerError } from '../../errors.js';
import { bastionPool } from '../../ssh/bastion-pool.js';
import { readSshTarget, SSH_CREDENTIALS } from '../../ssh/target.js';
import type { Connector, ServiceConnector, Upstream } from '../types.js';
import { booleanSetting, durationMsSetting, settingChecks } from '../../config/setting-checks.js';

export const sshTunnelSpec: ConnectorSpec = {
  name: 'ssh-tunnel',
  requiredCredentials: ['address', 'user', 'remoteHost', 'remotePort'],
  knownCredentials: ['address', 'user', 'privateKey', 'passphrase', 'password', 'hostKey', 'remoteHost', 'remotePort'],
  configKeys: ['insecureIgnoreHostKey', 'connectTimeoutMs'],
  checkSetting: settingChecks({
    insecureIgnoreHostKey: booleanSetting,
    connectTimeoutMs: durationMsSetting,
  }),
};

export const sshTunnelConnector: Connector = {
  spec: sshTunnelSpec,
  create(service, deps) {
    const insecureIgnoreHostKey = service.config.insecureIgnoreHostKey === true;
    const connectTimeoutMs = Number(service.config.connectTimeoutMs ?? 20_000);
    if (insecureIgnoreHostKey) deps.logger.warn('service has insecureIgnoreHostKey: the bastion host key is NOT checked', { service: service.name });
    const connector: ServiceConnector = {
      async connect(_client, ctx) {
        const creds = await ctx.resolveCredentials();
        const bastion = readSshTarget(creds, SSH_CREDENTIALS, { service: service.name, insecureIgnoreHostKey });
        const remoteHost = creds.text('remoteHost')!;
        const portText = creds.text('remotePort') ?? '';
        const remotePort = Number(portText);
        if (!Number.isInteger(remotePort) || remotePort < 1 || remotePort > 65535) {
          throw new BrokerError('target_error', `service '${service.name}': credential 'remotePort' is not a port number`);
        }
        const socket = await bastionPool.forward(bastion, remoteHost, remotePort, { service: service.name, signal: ctx.signal, logger: ctx.logger, timeoutMs: connectTimeoutMs });
        const upstream: Upstream = {
          socket,
          clientPending: Buffer.alloc(0),
          upstreamPending: Buffer.alloc(0),
          target: `${remoteHost.includes(':') ? `[${remoteHost}]` : remoteHost}:${remotePort} via ${bastion.display}`,
          tls: false,
          authMethod: bastion.privateKey ? 'ssh-publickey' : 'ssh-password',
        };
        return upstream;
      },
      // Raw TCP has no way to carry a message: the client sees the connection close; the log and audit say why.
      writeError() {},
    };
    return connector;
  },
};
