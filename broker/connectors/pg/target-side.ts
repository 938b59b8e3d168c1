// The target half of the pg handshake: connect, negotiate TLS per sslmode, send the
// startup message as the configured user, authenticate, and collect the session
// parameters the client must see.
import type { Socket } from 'node:net';
import type * as tls from 'node:tls';
import type { ResolvedCredentials } from '../../credentials/types.js';
import { BrokerError } from '../../errors.js';
import { backendTlsFromCredentials, upgradeToTls, type BackendTlsSettings } from '../../tls/backend-tls.js';
import { abortError } from '../../net/abort.js';
import { dial, targetAddress, type TargetAddress, type Tunnel } from '../../net/dial.js';
import { createSocketReader } from '../../net/socket-reader.js';
import { loginDeadline } from '../login-deadline.js';
import type { ConnectionContext, Upstream } from '../types.js';
import { authenticateBackend } from './backend-auth.js';
import type { CancelRegistry, CancelTarget } from './cancel.js';
import type { Startup } from './client-side.js';
import { encodeAuthenticationOk, encodeSslRequest, encodeStartup } from './codec.js';

/** Credential keys with a meaning to the connector; any other key becomes a startup parameter. */
const CONNECTION_KEYS = ['host', 'port', 'username', 'password', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'sslhost'];

interface TargetLink {
  socket: Socket | tls.TLSSocket;
  tlsSocket?: tls.TLSSocket;
}

function pgTarget(creds: ResolvedCredentials): TargetAddress {
  return targetAddress(creds.text('host')!, creds.text('port'), 5432, (port) => `.s.PGSQL.${port}`);
}

/** Connects and negotiates TLS per sslmode. Used for sessions and for cancel requests. */
type LinkAddress = TargetAddress & { via?: Tunnel };

async function openLink(addr: LinkAddress, tls: BackendTlsSettings, service: string, signal: AbortSignal, timeoutMs: number): Promise<TargetLink> {
  const socket = await dial({ host: addr.host, port: addr.port, path: addr.path, signal, timeoutMs, service, via: addr.via });
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

export async function openAuthenticated(
  /** Where AuthenticationOk and the replayed session parameters go (a probe discards them). */
  client: Pick<Socket, 'write'>,
  startup: Startup,
  creds: ResolvedCredentials,
  ctx: ConnectionContext,
  cancels: CancelRegistry,
  timeouts: { connectMs: number; authMs: number },
  /** An SSH bastion to reach the target through (sshTunnel* credentials). */
  via?: Tunnel,
): Promise<Upstream> {
  const name = ctx.service.name;
  const addr: LinkAddress = { ...pgTarget(creds), via };
  const tls = await backendTlsFromCredentials(creds, addr.host);
  // One deadline for connect, TLS and login: a target that accepts and then says nothing must not hang the client.
  const deadline = loginDeadline(ctx.signal, timeouts.authMs);
  const signal = deadline.signal;
  let link: TargetLink;
  try {
    link = await openLink(addr, tls, name, signal, timeouts.connectMs);
  } catch (err) {
    deadline.done();
    throw err;
  }
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
      type: 'upstream',
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
  } finally {
    deadline.done();
  }
}

/** Its own scope, so a held connection does not keep the handshake's values (credentials included) alive. */
function cancelTargetFor(addr: LinkAddress, tls: BackendTlsSettings, service: string, timeoutMs: number): CancelTarget {
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
