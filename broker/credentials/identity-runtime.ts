// Everything the identities feature adds to a running broker, in one object: the OIDC
// and workload identity sessions (IdentitySessions for the API layer), the providers that
// use them (aws-sts, aws-rds-iam, aws-secrets-manager, gcp, azure, vault, oidc), and
// apply() for each config (re)load.
//
//   const identity = createIdentityRuntime({ audit, logger, baseProviders: defaultProviders() });
//   const registry = createProviderRegistry([...defaultProviders(), ...identity.providers]);
//   identity.apply(config.identities); await identity.sessions.resume();
import type { AuditSink } from '../audit/types.js';
import type { CredentialSpec } from '../config/types.js';
import { createAwsRdsIamProvider } from './providers/aws-rds-iam.js';
import { createAwsSecretsManagerProvider } from './providers/aws-secrets-manager.js';
import { createAwsStsProvider } from './providers/aws-sts.js';
import { createAzureProvider } from './providers/azure.js';
import { createGcpProvider } from './providers/gcp.js';
import { createOidcTokenProvider } from './providers/oidc-token.js';
import { createVaultProvider } from './providers/vault.js';
import type { Provider } from './types.js';
import type { Logger } from '../log.js';
import { createAwsCredentialSource } from '../identity/aws-credentials.js';
import { createAzureTokenSource } from '../identity/azure-credentials.js';
import { createGcpTokenSource } from '../identity/gcp-credentials.js';
import type { IdentityConfig } from '../identity/config.js';
import type { IdentityContext } from '../identity/context.js';
import { combineSessions } from '../identity/combined-sessions.js';
import { createIdentitySessions, type IdentitySessionManager } from '../identity/sessions.js';
import { createWorkloadSessions } from '../identity/workload/sessions.js';
import { createKeychainTokenStore, type TokenStore } from '../identity/token-store.js';

/** The providers this feature adds, by name (for config validation without a runtime). */
export const IDENTITY_PROVIDER_NAMES = ['aws-sts', 'aws-rds-iam', 'aws-secrets-manager', 'gcp', 'azure', 'vault', 'oidc'];

export interface IdentityRuntimeOptions {
  audit: AuditSink;
  logger: Logger;
  /** Providers that `{from, get}` secrets inside `identities:` may name (keychain, file, env). */
  baseProviders: Provider[];
  /** Default: the OS keychain. */
  store?: TokenStore;
  openBrowser?: (url: string) => void;
  /** OIDC refresh and STS/Vault reuse margin. Default 60 s. */
  marginMs?: number;
  /** Per provider call. Default 20 s. */
  timeoutMs?: number;
  now?: () => number;
  /** Where workload identities (github-actions, token-env) and gcp/azure (HOME, GOOGLE_APPLICATION_CREDENTIALS, CLOUDSDK_CONFIG, AZURE_CONFIG_DIR) look. Default process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface IdentityRuntime {
  sessions: IdentitySessionManager;
  providers: Provider[];
  /** Take a newly loaded config's `identities:` section. */
  apply(identities: IdentityConfig[] | undefined): void;
  close(): void;
}

export function createIdentityRuntime(options: IdentityRuntimeOptions): IdentityRuntime {
  const { audit, logger } = options;
  let entries = new Map<string, IdentityConfig>();
  const readSecret = async (spec: CredentialSpec, signal: AbortSignal): Promise<Buffer> => {
    const provider = options.baseProviders.find((p) => p.name === spec.provider);
    if (!provider) throw new Error(`provider '${spec.provider}' cannot be used for secrets inside identities`);
    const got = await provider.get([spec.id], { signal });
    const v = got.get(spec.id);
    if (!v) throw new Error(`provider '${spec.provider}' returned no value for '${spec.id}'`);
    return v.value;
  };
  const oidcSessions = createIdentitySessions({
    store: options.store ?? createKeychainTokenStore(),
    audit,
    logger,
    readSecret,
    ...(options.openBrowser ? { openBrowser: options.openBrowser } : {}),
    ...(options.marginMs !== undefined ? { refreshMarginMs: options.marginMs } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  const workloadSessions = createWorkloadSessions({
    audit,
    logger,
    ...(options.marginMs !== undefined ? { marginMs: options.marginMs } : {}),
    ...(options.env ? { env: options.env } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  const sessions = combineSessions(oidcSessions, workloadSessions);
  const ctx: IdentityContext = {
    entry: (name) => entries.get(name),
    sessions,
    readSecret,
    audit,
    logger,
    timeoutMs: options.timeoutMs ?? 20_000,
    marginMs: options.marginMs ?? 60_000,
    now: options.now ?? Date.now,
  };
  const aws = createAwsCredentialSource(ctx);
  const providers = [
    createAwsStsProvider({ aws, timeoutMs: ctx.timeoutMs }),
    createAwsRdsIamProvider({ aws, timeoutMs: ctx.timeoutMs }),
    createAwsSecretsManagerProvider({ aws, timeoutMs: ctx.timeoutMs }),
    createGcpProvider({ gcp: createGcpTokenSource(ctx, { env: options.env }), timeoutMs: ctx.timeoutMs }),
    createAzureProvider({ azure: createAzureTokenSource(ctx, { env: options.env }), timeoutMs: ctx.timeoutMs }),
    createVaultProvider(ctx),
    createOidcTokenProvider({ sessions, timeoutMs: ctx.timeoutMs }),
  ];
  return {
    sessions,
    providers,
    apply(identities) {
      entries = new Map((identities ?? []).map((i) => [i.name, i]));
      sessions.apply(identities);
    },
    close: () => sessions.close(),
  };
}
