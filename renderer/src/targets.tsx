import { useState } from 'react';
import type { IdentitySessionInfo, TargetInfo } from '../../broker/api.js';
import { connectionStrings } from '../../broker/connection-strings.js';
import { CopyButton } from './copy-button.js';
import { Countdown } from './countdown.js';

export function stateLabel(t: TargetInfo): string {
  switch (t.status.state) {
    case 'stopped':
      return 'Stopped';
    case 'error':
      return `Error: ${t.status.reason}`;
    case 'listening':
      return t.connections > 0 ? `${t.connections} connection${t.connections === 1 ? '' : 's'}` : 'Listening';
  }
}

interface Props {
  targets: TargetInfo[];
  sessions: IdentitySessionInfo[];
  onStart(name: string): void;
  onStop(name: string): void;
  onEdit(t: TargetInfo): void;
  onLogin(identity: string): void;
}

export function Targets({ targets, sessions, onStart, onStop, onEdit, onLogin }: Props) {
  const [filter, setFilter] = useState('');
  const f = filter.trim().toLowerCase();
  const shown = f ? targets.filter((t) => `${t.name} ${t.connector} ${t.listenOn}`.toLowerCase().includes(f)) : targets;
  return (
    <section aria-labelledby="targets-title" className="panel">
      <div className="panel-head">
        <h2 id="targets-title">Targets</h2>
        <label className="search">
          <span className="visually-hidden">Filter targets</span>
          <input type="search" placeholder="Filter targets" value={filter} onChange={(e) => setFilter(e.target.value)} />
        </label>
      </div>
      {targets.length === 0 ? (
        <p className="muted">No targets yet. Add one, or edit the config file.</p>
      ) : shown.length === 0 ? (
        <p className="muted">No target matches “{filter}”.</p>
      ) : (
        <ul className="targets">
          {shown.map((t) => {
            const session = t.identity ? sessions.find((s) => s.name === t.identity) : undefined;
            const running = t.status.state === 'listening';
            return (
              <li key={t.name} className={`target ${t.status.state}`} aria-label={`Target ${t.name}`} data-target={t.name}>
                <div className="target-main">
                  <h3>{t.name}</h3>
                  <span className="protocol">{t.connector}</span>
                  <span className={`state ${t.status.state}`} data-testid="state">
                    {stateLabel(t)}
                  </span>
                </div>
                <div className="target-address">
                  <span className="muted">Local address</span>{' '}
                  <code data-testid="address">{t.status.state === 'listening' ? t.status.address : t.listenOn}</code>
                  {t.hostKeyFingerprint && (
                    <div className="muted">
                      Host key <code data-testid="host-key">{t.hostKeyFingerprint}</code>
                    </div>
                  )}
                </div>
                <div className="target-expiry">
                  <Countdown label="Credential" expiresAt={t.credentialExpiresAt} />
                  {session && <Countdown label={`Session ${session.name}`} expiresAt={session.expiresAt} onRenew={() => onLogin(session.name)} renewLabel="Log in again" />}
                </div>
                <div className="target-actions">
                  {running ? (
                    <button type="button" onClick={() => onStop(t.name)} aria-label={`Stop ${t.name}`}>
                      Stop
                    </button>
                  ) : (
                    <button type="button" className="primary" onClick={() => onStart(t.name)} aria-label={`Start ${t.name}`}>
                      Start
                    </button>
                  )}
                  <button type="button" onClick={() => onEdit(t)} aria-label={`Edit ${t.name}`}>
                    Edit
                  </button>
                  {connectionStrings(t).map((c) => (
                    <CopyButton key={c.label} label={c.label} value={c.value} target={t.name} />
                  ))}
                </div>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
