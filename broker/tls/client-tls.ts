// Client-facing TLS (between the client and the broker), shared by the database
// connectors. Opt-in per service: `config.clientTls: true`, with the broker's local
// certificate or the service's clientTlsCert/clientTlsKey.
import { readFile } from 'node:fs/promises';
import * as tls from 'node:tls';
import { BrokerError } from '../errors.js';

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
