// Client-facing TLS (between the client and the broker), shared by the database
// connectors. Opt-in per service: `config.clientTls: true`, with the broker's local
// certificate or the service's clientTlsCert/clientTlsKey.
import { readFile } from 'node:fs/promises';
import * as tls from 'node:tls';
import type { ServiceConfig } from '../config/types.js';
import type { ConnectorDeps } from '../connectors/types.js';
import { BrokerError } from '../errors.js';

/** A lazily built, cached secure context, or undefined when the service has no client TLS. */
export function clientTlsFor(service: ServiceConfig, deps: ConnectorDeps): (() => Promise<tls.SecureContext>) | undefined {
  const c = service.config;
  if (c.clientTls !== true && c.clientTls !== 'true') return undefined;
  let context: Promise<tls.SecureContext> | undefined;
  return () =>
    (context ??= (async () => {
      if (c.clientTlsCert && c.clientTlsKey)
        return tls.createSecureContext({ cert: await readFile(String(c.clientTlsCert)), key: await readFile(String(c.clientTlsKey)) });
      if (!deps.localCertificate) throw new BrokerError('internal', 'no local certificate available for client TLS');
      const local = await deps.localCertificate();
      return tls.createSecureContext({ cert: local.certPem, key: local.keyPem });
    })());
}
