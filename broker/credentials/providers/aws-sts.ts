// `aws-sts`: the AWS keys of an `identities:` entry of type aws: temporary credentials
// from AssumeRoleWithWebIdentity with an OIDC session's ID token (identity + roleArn),
// or the SDK's default credential chain (neither). Id: `AWS#field`, field one of
// accessKeyId, secretAccessKey, sessionToken, expiration (the last two empty for
// long-term default-chain keys). All fields of one entry come from the same answer and
// carry its expiry, so the resolver reuses them until a margin before it.
import type { AwsCredentialSource, AwsKeys } from '../../identity/aws-credentials.js';
import { safeReason } from '../../identity/context.js';
import { signalWithTimeout } from '../../net/deadline.js';
import { ProviderError, type Provider, type SecretValue } from '../types.js';

const FIELDS = ['accessKeyId', 'secretAccessKey', 'sessionToken', 'expiration'] as const;
type Field = (typeof FIELDS)[number];

export function createAwsStsProvider(options: { aws: AwsCredentialSource; timeoutMs: number }): Provider {
  const name = 'aws-sts';
  return {
    name,
    async get(ids, { signal }) {
      const byEntry = new Map<string, string[]>();
      for (const id of ids) {
        const [entry, field, ...rest] = id.split('#');
        if (!entry || !FIELDS.includes(field as Field) || rest.length > 0) {
          throw new ProviderError(name, id, `the id must have the form AWS#field with field one of ${FIELDS.join(', ')}`);
        }
        byEntry.set(entry, [...(byEntry.get(entry) ?? []), id]);
      }
      const out = new Map<string, SecretValue>();
      await Promise.all(
        [...byEntry].map(async ([entry, entryIds]) => {
          let creds: AwsKeys;
          try {
            creds = await options.aws.keys(entry, signalWithTimeout(signal, options.timeoutMs));
          } catch (err) {
            throw new ProviderError(name, entryIds.join(', '), safeReason(err));
          }
          for (const id of entryIds) {
            const field = id.split('#')[1] as Field;
            const text = field === 'expiration' ? (creds.expiration?.toISOString() ?? '') : (creds[field] ?? '');
            out.set(id, { value: Buffer.from(text, 'utf8'), ...(creds.expiration ? { expiresAt: creds.expiration } : {}) });
          }
        }),
      );
      return out;
    },
  };
}
