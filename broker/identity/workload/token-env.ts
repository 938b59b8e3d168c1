// `type: token-env`: a JWT the platform put in an environment variable (GitLab CI
// `id_tokens:`, CircleCI's CIRCLE_OIDC_TOKEN_V2). It cannot change while the process
// runs: when it expires, the job's token is gone and the identity says so.
import type { WorkloadIdentity } from '../config.js';
import type { TokenSource } from './token-source.js';

export function createTokenEnvSource(config: Extract<WorkloadIdentity, { type: 'token-env' }>, env: NodeJS.ProcessEnv): TokenSource {
  return {
    origin: `$${config.variable}`,
    async read() {
      const value = env[config.variable]?.trim();
      if (!value) throw new Error(`the environment variable ${config.variable} is not set`);
      return value;
    },
  };
}
