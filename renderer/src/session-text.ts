// A session's state in words for the sessions list (pure: also tested under Node).
import type { IdentitySessionInfo } from '../../broker/api.js';

/** A session's state in words ("login-needed" is an internal name). */
export function sessionText(s: IdentitySessionInfo): string {
  const why = s.reason ? `: ${s.reason}` : '';
  // Workload identities (github-actions, token-file, token-env) have a token, not a login.
  const workload = s.type !== undefined && s.type !== 'oidc';
  switch (s.state) {
    case 'active':
      return workload ? 'Token valid' : 'Logged in';
    case 'refreshing':
      return workload ? `Reading the token…` : 'Refreshing the session…';
    case 'refresh-failed':
      return `${workload ? 'No usable token' : 'Could not refresh'}${why}`;
    case 'login-needed':
      return `Not logged in${why}`;
    case 'logged-out':
      return 'Logged out';
  }
}
