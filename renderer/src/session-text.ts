// A session's state in words for the sessions list (pure: also tested under Node).
import type { IdentitySessionInfo } from '../../broker/api.js';

/** A session's state in words ("login-needed" is an internal name). */
export function sessionText(s: IdentitySessionInfo): string {
  const why = s.reason ? `: ${s.reason}` : '';
  switch (s.state) {
    case 'active':
      return 'Logged in';
    case 'refreshing':
      return 'Refreshing the session…';
    case 'refresh-failed':
      return `Could not refresh${why}`;
    case 'login-needed':
      return `Not logged in${why}`;
    case 'logged-out':
      return 'Logged out';
  }
}
