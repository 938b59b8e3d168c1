// The window: targets, identity sessions and the live audit feed, kept current from the
// BrokerApi event stream (targets and sessions are re-read when an event concerns them).
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { BrokerApi, IdentitySessionInfo, LoginStart, TargetInfo } from '../../broker/api.js';
import type { AuditRecord } from '../../broker/audit/types.js';
import { connect } from './api.js';
import { AuditFeed } from './audit-feed.js';
import { LoginNotice, Sessions } from './sessions.js';
import { TargetForm } from './target-form.js';
import { Targets } from './targets.js';

const FEED_LIMIT = 500;

export function App() {
  const [stream, setStream] = useState<'connected' | 'reconnecting'>('connected');
  const connection = useMemo(() => connect(setStream), []);
  if (!connection.ok) {
    return (
      <main className="app">
        <h1>Secretless Desktop</h1>
        <p role="alert" className="notice error">
          {connection.reason}
        </p>
      </main>
    );
  }
  return <Connected api={connection.api} stream={stream} />;
}

function Connected({ api, stream }: { api: BrokerApi; stream: 'connected' | 'reconnecting' }) {
  const [targets, setTargets] = useState<TargetInfo[]>([]);
  const [sessions, setSessions] = useState<IdentitySessionInfo[]>([]);
  const [audit, setAudit] = useState<AuditRecord[]>([]);
  const [error, setError] = useState<string>();
  const [editing, setEditing] = useState<TargetInfo | 'new' | undefined>();
  const [pendingLogin, setPendingLogin] = useState<{ identity: string; start: LoginStart }>();
  const refreshTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  const refresh = useCallback(async () => {
    try {
      const [t, s] = await Promise.all([api.listTargets(), api.listSessions()]);
      setTargets(t);
      setSessions(s);
    } catch (err) {
      setError((err as Error).message);
    }
  }, [api]);

  useEffect(() => {
    void refresh();
    api.recentAudit({ limit: FEED_LIMIT }).then(setAudit, (err: Error) => setError(err.message));
    const off = api.subscribe((event) => {
      if (event.type === 'audit') {
        setAudit((prev) => [event.record, ...prev].slice(0, FEED_LIMIT));
        return;
      }
      // Bursts of events (many connections) cause one re-read.
      clearTimeout(refreshTimer.current);
      refreshTimer.current = setTimeout(() => void refresh(), 100);
    });
    return () => {
      off();
      clearTimeout(refreshTimer.current);
    };
  }, [api, refresh]);

  const act = useCallback(
    async (what: () => Promise<unknown>) => {
      setError(undefined);
      try {
        await what();
      } catch (err) {
        setError((err as Error).message);
      }
      await refresh();
    },
    [refresh],
  );

  const login = useCallback(
    async (identity: string) => {
      setError(undefined);
      try {
        const start = await api.login(identity);
        setPendingLogin({ identity, start });
        if (start.flow === 'authorization_code') window.open(start.url, '_blank', 'noopener,noreferrer');
      } catch (err) {
        setError((err as Error).message);
      }
    },
    [api],
  );

  return (
    <main className="app">
      <header className="top">
        <h1>Secretless Desktop</h1>
        <span className={`stream ${stream}`} role="status">
          {stream === 'connected' ? 'Live' : 'Reconnecting…'}
        </span>
        <button type="button" className="primary" onClick={() => setEditing('new')}>
          Add target
        </button>
      </header>
      {error && (
        <p role="alert" className="notice error">
          {error}{' '}
          <button type="button" className="link" onClick={() => setError(undefined)}>
            Dismiss
          </button>
        </p>
      )}
      {pendingLogin && <LoginNotice identity={pendingLogin.identity} start={pendingLogin.start} />}
      <Targets
        targets={targets}
        sessions={sessions}
        onStart={(n) => act(() => api.startTarget(n))}
        onStop={(n) => act(() => api.stopTarget(n))}
        onEdit={(t) => setEditing(t)}
        onLogin={(i) => void login(i)}
      />
      <Sessions sessions={sessions} api={api} onError={setError} onChange={refresh} onLogin={(i) => void login(i)} />
      <AuditFeed records={audit} targets={targets.map((t) => t.name)} />
      {editing && (
        <TargetForm
          target={editing === 'new' ? undefined : editing}
          onCancel={() => setEditing(undefined)}
          onSave={async (input) => {
            await api.saveTarget(input);
            setEditing(undefined);
            await refresh();
          }}
        />
      )}
    </main>
  );
}
