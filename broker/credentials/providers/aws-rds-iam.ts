// `aws-rds-iam`: an RDS IAM authentication token (@aws-sdk/rds-signer), used as the
// database password. Id: `AWS:DBUSER@HOST:PORT`, AWS naming an `identities:` entry of
// type aws (role credentials from STS, or the default chain). The token is a SigV4
// presigned URL valid for 15 minutes, and never longer than the credentials that
// signed it; RDS only accepts it over TLS, so the service needs `sslmode: require` or
// stricter.
import { Signer } from '@aws-sdk/rds-signer';
import type { AwsCredentialSource } from '../../identity/aws-credentials.js';
import { safeReason } from '../../identity/context.js';
import { signalWithTimeout } from '../../net/deadline.js';
import { ProviderError, type Provider, type SecretValue } from '../types.js';

const TOKEN_LIFETIME_MS = 15 * 60_000;

export function parseRdsId(id: string): { entry: string; user: string; host: string; port: number } | undefined {
  const m = /^([^:]+):(.+)@(\[[^\]]+\]|[^:@]+):(\d{1,5})$/.exec(id);
  if (!m) return undefined;
  const port = Number(m[4]);
  return port > 0 && port < 65536 ? { entry: m[1]!, user: m[2]!, host: m[3]!.replace(/^\[|\]$/g, ''), port } : undefined;
}

export function createAwsRdsIamProvider(options: { aws: AwsCredentialSource; timeoutMs: number; now?: () => number }): Provider {
  const name = 'aws-rds-iam';
  const now = options.now ?? Date.now;
  const one = async (id: string, signal: AbortSignal): Promise<SecretValue> => {
    const parsed = parseRdsId(id);
    if (!parsed) throw new ProviderError(name, id, 'the id must have the form AWS:DBUSER@HOST:PORT');
    try {
      const limited = signalWithTimeout(signal, options.timeoutMs);
      const entry = options.aws.entry(parsed.entry);
      const creds = await options.aws.forClient(parsed.entry, limited);
      const issuedAt = now();
      const signer = new Signer({
        hostname: parsed.host,
        port: parsed.port,
        username: parsed.user,
        region: entry.region,
        ...(creds ? { credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, sessionToken: creds.sessionToken } } : {}),
      });
      const token = await raceAbort(signer.getAuthToken(), limited);
      let expiresAt = new Date(issuedAt + TOKEN_LIFETIME_MS);
      if (creds && creds.expiration < expiresAt) expiresAt = creds.expiration;
      return { value: Buffer.from(token, 'utf8'), expiresAt };
    } catch (err) {
      throw new ProviderError(name, id, safeReason(err));
    }
  };
  return {
    name,
    async get(ids, { signal }) {
      const values = await Promise.all(ids.map((id) => one(id, signal)));
      return new Map(ids.map((id, i) => [id, values[i]!]));
    },
  };
}

function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
