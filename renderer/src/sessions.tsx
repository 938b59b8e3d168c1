import type { BrokerApi, IdentitySessionInfo, LoginStart } from '../../broker/api.js';
import { Countdown } from './countdown.js';
import { sessionText } from './session-text.js';

interface Props {
  sessions: IdentitySessionInfo[];
  api: BrokerApi;
  onError(message: string): void;
  onChange(): void;
  onLogin(identity: string): void;
}

/** Where to continue a login the broker started: a browser page, or a device code to enter. */
export function LoginNotice({ identity, start }: { identity: string; start: LoginStart }) {
  return (
    <div className="notice" role="status">
      {start.flow === 'authorization_code' ? (
        <>
          Continue the login for {identity} in your browser:{' '}
          <a href={start.url} target="_blank" rel="noopener noreferrer">
            open the login page
          </a>
        </>
      ) : (
        <>
          To log in {identity}, visit{' '}
          <a href={start.verificationUriComplete ?? start.verificationUri} target="_blank" rel="noopener noreferrer">
            {start.verificationUri}
          </a>{' '}
          and enter the code <code>{start.userCode}</code>
        </>
      )}
    </div>
  );
}

const isWorkload = (s: IdentitySessionInfo): boolean => s.type !== undefined && s.type !== 'oidc';

/** A workload identity has no login: what the platform says it is, and for whom its token is. */
function WorkloadClaims({ session }: { session: IdentitySessionInfo }) {
  return (
    <span className="claims muted">
      <span>{session.type}</span> · subject <code>{session.subject ?? 'no usable token'}</code> · audience <code>{session.audience}</code>
    </span>
  );
}

export function Sessions({ sessions, api, onError, onChange, onLogin }: Props) {
  if (sessions.length === 0) return null;
  const login = async (identity: string) => onLogin(identity);
  return (
    <section aria-labelledby="sessions-title" className="panel">
      <h2 id="sessions-title">Identity sessions</h2>
      <ul className="sessions">
        {sessions.map((s) => (
          <li key={s.name} className={`session ${s.state}`} aria-label={`Identity ${s.name}`}>
            <h3>{s.name}</h3>
            <span className="muted">{s.issuer}</span>
            <span className={`state ${s.state}`}>{sessionText(s)}</span>
            {s.state === 'active' || s.state === 'refreshing' || isWorkload(s) ? (
              <Countdown label={isWorkload(s) ? 'Token' : 'Session'} expiresAt={s.expiresAt} {...(isWorkload(s) ? {} : { onRenew: () => void login(s.name), renewLabel: 'Log in again' })} />
            ) : (
              <span />
            )}
            <span className="actions">
              {isWorkload(s) ? (
                <WorkloadClaims session={s} />
              ) : s.state === 'active' || s.state === 'refreshing' ? (
                <button
                  type="button"
                  onClick={async () => {
                    await api.logout(s.name).catch((err: Error) => onError(err.message));
                    onChange();
                  }}
                >
                  Log out
                </button>
              ) : (
                <button type="button" className="primary" onClick={() => void login(s.name)}>
                  Log in
                </button>
              )}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}
