// Client-facing TLS (between the client and the broker), shared by the database
// connectors. Opt-in per service: `config.clientTls: true`, with the broker's local
// certificate or the service's clientTlsCert/clientTlsKey.
import { readFile } from 'node:fs/promises';
import * as tls from 'node:tls';
import { BrokerError } from '../errors.js';
import { abortError } from '../net/abort.js';
import { raceSignal } from '../net/race-signal.js';

export interface ClientTlsSettings {
  clientTls: boolean;
  clientTlsCert?: string;
  clientTlsKey?: string;
}

/** A lazily built, cached secure context, or undefined when the service has no client TLS. */
export function clientTlsFor(
  settings: ClientTlsSettings,
  deps: { localCertificate?: () => Promise<{ certPem: string; keyPem: string }> },
): (() => Promise<tls.SecureContext>) | undefined {
  if (!settings.clientTls) return undefined;
  const { clientTlsCert, clientTlsKey } = settings;
  let context: Promise<tls.SecureContext> | undefined;
  return () =>
    (context ??= (async () => {
      if (clientTlsCert && clientTlsKey) return tls.createSecureContext({ cert: await readFile(clientTlsCert), key: await readFile(clientTlsKey) });
      if (!deps.localCertificate) throw new BrokerError('internal', 'no local certificate available for client TLS');
      const local = await deps.localCertificate();
      return tls.createSecureContext({ cert: local.certPem, key: local.keyPem });
    })());
}

/**
 * Runs the server side of the TLS handshake on a client socket. A client that refuses
 * our certificate may just close (no 'error', only 'close'): that fails it at once, as
 * does the connection's signal.
 */
export async function acceptTls(socket: import('node:net').Socket, context: tls.SecureContext, signal: AbortSignal, service: string): Promise<tls.TLSSocket> {
  const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: context });
  const handshake = new Promise<void>((resolve, reject) => {
    secure.once('secure', resolve);
    secure.once('error', (err) => reject(new BrokerError('protocol_violation', `client TLS handshake failed: ${err.message}`)));
    secure.once('close', () => reject(new BrokerError('protocol_violation', 'the client closed the connection during the TLS handshake')));
  });
  await raceSignal(handshake, signal).catch((err: unknown) => {
    throw signal.aborted ? abortError(signal, service) : err;
  });
  secure.on('error', () => {});
  return secure;
}
