// `aws-secrets-manager`: a secret from AWS Secrets Manager. Id: `AWS:SECRET_ID[#FIELD]`,
// AWS naming an `identities:` entry of type aws (role credentials from STS, or the
// default chain); SECRET_ID is a name or an ARN; FIELD selects a key of a JSON secret.
// Values carry no expiry, so every connection reads the current version and a rotated
// secret is picked up at once. Ids of one secret share one GetSecretValue call.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { AwsCredentialSource } from '../../identity/aws-credentials.js';
import { safeReason } from '../../identity/context.js';
import { signalWithTimeout } from '../../net/deadline.js';
import { ProviderError, type Provider, type SecretValue } from '../types.js';

export function parseSecretsManagerId(id: string): { entry: string; secretId: string; field?: string } | undefined {
  const colon = id.indexOf(':');
  if (colon <= 0) return undefined;
  const rest = id.slice(colon + 1);
  const hash = rest.lastIndexOf('#');
  const secretId = hash >= 0 ? rest.slice(0, hash) : rest;
  const field = hash >= 0 ? rest.slice(hash + 1) : undefined;
  if (!secretId || field === '') return undefined;
  return { entry: id.slice(0, colon), secretId, ...(field !== undefined ? { field } : {}) };
}

export function createAwsSecretsManagerProvider(options: { aws: AwsCredentialSource; timeoutMs: number }): Provider {
  const name = 'aws-secrets-manager';

  async function fetchSecret(entryName: string, secretId: string, ids: string[], signal: AbortSignal): Promise<Buffer> {
    const limited = signalWithTimeout(signal, options.timeoutMs);
    try {
      const entry = options.aws.entry(entryName);
      const creds = await options.aws.forClient(entryName, limited);
      const client = new SecretsManagerClient({
        region: entry.region,
        maxAttempts: 2,
        ...(entry.endpoints.secretsManager ? { endpoint: entry.endpoints.secretsManager } : {}),
        ...(creds ? { credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, sessionToken: creds.sessionToken } } : {}),
      });
      try {
        const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }), { abortSignal: limited });
        if (out.SecretString !== undefined) return Buffer.from(out.SecretString, 'utf8');
        if (out.SecretBinary) return Buffer.from(out.SecretBinary);
        throw new Error('the secret has no value');
      } finally {
        client.destroy();
      }
    } catch (err) {
      throw new ProviderError(name, ids.join(', '), safeReason(err));
    }
  }

  return {
    name,
    async get(ids, { signal }) {
      const groups = new Map<string, { entry: string; secretId: string; ids: string[] }>();
      for (const id of ids) {
        const p = parseSecretsManagerId(id);
        if (!p) throw new ProviderError(name, id, 'the id must have the form AWS:SECRET_ID or AWS:SECRET_ID#FIELD');
        const key = `${p.entry}\u0000${p.secretId}`;
        const g = groups.get(key) ?? { entry: p.entry, secretId: p.secretId, ids: [] };
        g.ids.push(id);
        groups.set(key, g);
      }
      const out = new Map<string, SecretValue>();
      await Promise.all(
        [...groups.values()].map(async (g) => {
          const raw = await fetchSecret(g.entry, g.secretId, g.ids, signal);
          let json: Record<string, unknown> | undefined;
          for (const id of g.ids) {
            const field = parseSecretsManagerId(id)!.field;
            if (field === undefined) {
              out.set(id, { value: Buffer.from(raw) });
              continue;
            }
            if (!json) {
              try {
                const parsed: unknown = JSON.parse(raw.toString('utf8'));
                if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error();
                json = parsed as Record<string, unknown>;
              } catch {
                throw new ProviderError(name, id, 'the secret is not a JSON object, so a #field cannot be selected');
              }
            }
            const v = json[field];
            if (v === undefined || v === null || typeof v === 'object') throw new ProviderError(name, id, `the secret has no text or number field '${field}'`);
            out.set(id, { value: Buffer.from(String(v), 'utf8') });
          }
        }),
      );
      return out;
    },
  };
}
