// `azure`: a Microsoft Entra access token from an `identities:` entry of type azure
// (workload identity federation, or the `az login` token cache). Id: the entry's name.
// Use it as the password of an Azure Database for PostgreSQL/MySQL Entra user (the
// default scope is ossrdbms-aad's), or as an http bearer (set the entry's `scope`).
import type { EntryTokenSource } from '../../identity/access-token.js';
import type { Provider } from '../types.js';
import { createEntryTokenProvider } from './entry-token.js';

export function createAzureProvider(options: { azure: EntryTokenSource; timeoutMs: number }): Provider {
  return createEntryTokenProvider('azure', { source: options.azure, timeoutMs: options.timeoutMs });
}
