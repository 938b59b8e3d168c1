// Keep-alive connections to the upstreams, pooled by undici. One pool per TLS setup:
// the CA and client certificate come from providers and may rotate, so a change of
// material gets a fresh pool and the old one is closed once its requests are done.
import { createHash } from 'node:crypto';
import { rootCertificates, type ConnectionOptions } from 'node:tls';
import { Agent } from 'undici';
import type { ResolvedCredentials } from '../../credentials/types.js';
import { BrokerError } from '../../errors.js';
import { describeTlsError, tlsMaterial } from '../../tls/backend-tls.js';

export interface UpstreamPool {
  /** The dispatcher for these credentials' TLS material. */
  dispatcher(creds: ResolvedCredentials): Promise<Agent>;
  /** The TLS options for these credentials (CA, client certificate), and an id that changes with them. */
  tls(creds: ResolvedCredentials): Promise<UpstreamTls>;
  close(): Promise<void>;
}

export interface UpstreamTls {
  id: string;
  options: Pick<ConnectionOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized'>;
}

export function createUpstreamPool(options: { verify: boolean; connectTimeoutMs: number }): UpstreamPool {
  let current: { key: string; agent: Agent } | undefined;
  const retired = new Set<Agent>();
  // One resolved credential group serves many requests on a keep-alive connection: look its material up once.
  const byCreds = new WeakMap<ResolvedCredentials, Promise<UpstreamTls>>();
  const tls = (creds: ResolvedCredentials): Promise<UpstreamTls> => {
    let found = byCreds.get(creds);
    if (!found) {
      found = loadTls(creds, options.verify);
      byCreds.set(creds, found);
      found.catch(() => byCreds.delete(creds));
    }
    return found;
  };
  return {
    tls,
    async dispatcher(creds) {
      const material = await tls(creds);
      if (current?.key === material.id) return current.agent;
      if (current) {
        const old = current.agent;
        retired.add(old);
        void old.close().finally(() => retired.delete(old));
      }
      const agent = new Agent({
        connect: { ...material.options, timeout: options.connectTimeoutMs },
        keepAliveTimeout: 30_000,
        // Bodies can be large and slow (1 GB downloads); the client's pace decides.
        bodyTimeout: 0,
        headersTimeout: 300_000,
      });
      current = { key: material.id, agent };
      return agent;
    },
    async close() {
      const all = [...retired, ...(current ? [current.agent] : [])];
      current = undefined;
      await Promise.all(all.map((a) => a.destroy().catch(() => {})));
    },
  };
}

async function loadTls(creds: ResolvedCredentials, verify: boolean): Promise<UpstreamTls> {
  const ca = await tlsMaterial('sslrootcert', creds.values.get('sslrootcert'));
  const cert = await tlsMaterial('sslcert', creds.values.get('sslcert'));
  const key = await tlsMaterial('sslkey', creds.values.get('sslkey'));
  if (!cert !== !key) throw new BrokerError('tls_failed', 'sslcert and sslkey must be given together');
  const fingerprint = createHash('sha256');
  for (const part of [ca, cert, key]) fingerprint.update(part ?? Buffer.alloc(0)).update('\0');
  return {
    id: fingerprint.digest('hex'),
    options: {
      // The system's CAs stay trusted; sslrootcert adds the private CA of an internal API.
      ...(ca ? { ca: [...rootCertificates, ca.toString('utf8')] } : {}),
      ...(cert && key ? { cert, key } : {}),
      rejectUnauthorized: verify,
    },
  };
}

/** An undici or socket failure as a catalog error naming the upstream (never a header). */
export function upstreamError(err: unknown, host: string): BrokerError {
  if (err instanceof BrokerError) return err;
  const e = err as Error & { code?: string; cause?: Error & { code?: string } };
  const inner = e.cause?.code ? e.cause : e;
  const code = inner.code ?? '';
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO|ERR_TLS/.test(code)) {
    return new BrokerError('tls_failed', `TLS to ${host} failed: ${describeTlsError(inner)}`, { cause: err });
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return new BrokerError('timeout', `${host} did not answer in time`, { cause: err });
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return new BrokerError('target_unreachable', `cannot reach ${host}: connect timed out`, { cause: err });
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    return new BrokerError('target_unreachable', `cannot reach ${host}: ${code}`, { cause: err });
  }
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE') {
    return new BrokerError('target_protocol_error', `${host} closed the connection before answering`, { cause: err });
  }
  return new BrokerError('target_error', `request to ${host} failed: ${code || e.name}`, { cause: err });
}
