// `gcp`: a Google access token from an `identities:` entry of type gcp (workload
// identity federation, optionally impersonating a service account, or the gcloud
// application-default credentials). Id: the entry's name. Use it as the password of a
// Cloud SQL IAM database user (PostgreSQL user `SA@PROJECT.iam`, MySQL user `SA`) or
// as an http bearer.
import type { EntryTokenSource } from '../../identity/access-token.js';
import type { Provider } from '../types.js';
import { createEntryTokenProvider } from './entry-token.js';

export function createGcpProvider(options: { gcp: EntryTokenSource; timeoutMs: number }): Provider {
  return createEntryTokenProvider('gcp', { source: options.gcp, timeoutMs: options.timeoutMs });
}
