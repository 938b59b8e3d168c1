// `type: github-actions`: the job's ID token from GitHub's token service, as
// actions/core getIDToken() asks for it: GET $ACTIONS_ID_TOKEN_REQUEST_URL with
// `&audience=…`, bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN, answer {"value": JWT}. The runner
// sets both variables in jobs with `permissions: id-token: write`.
import type { WorkloadIdentity } from '../config.js';
import { isLoopbackHostname } from '../config.js';
import type { TokenSource } from './token-source.js';

const URL_VAR = 'ACTIONS_ID_TOKEN_REQUEST_URL';
const TOKEN_VAR = 'ACTIONS_ID_TOKEN_REQUEST_TOKEN';

export function createGithubActionsSource(config: Extract<WorkloadIdentity, { type: 'github-actions' }>, env: NodeJS.ProcessEnv): TokenSource {
  return {
    origin: `$${URL_VAR}`,
    async read(signal) {
      const base = env[URL_VAR];
      const bearer = env[TOKEN_VAR];
      if (!base || !bearer) {
        throw new Error(`${URL_VAR} and ${TOKEN_VAR} are not set: run in a GitHub Actions job with \`permissions: id-token: write\``);
      }
      let url: URL;
      try {
        url = new URL(base);
      } catch {
        throw new Error(`${URL_VAR} is not a URL`);
      }
      // The request bearer must not cross the network in the clear.
      if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHostname(url.hostname))) throw new Error(`${URL_VAR} must be an https URL`);
      url.searchParams.set('audience', config.audience);
      const res = await fetch(url, { headers: { authorization: `Bearer ${bearer}`, accept: 'application/json' }, signal, redirect: 'error' });
      const text = await res.text();
      if (!res.ok) throw new Error(`the GitHub token service answered HTTP ${res.status}`);
      let value: unknown;
      try {
        value = (JSON.parse(text) as { value?: unknown }).value;
      } catch {
        throw new Error('the GitHub token service answered with something other than JSON');
      }
      if (typeof value !== 'string' || value === '') throw new Error('the GitHub token service answered without a token (`value`)');
      return value;
    },
  };
}
