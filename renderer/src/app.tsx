// The window: targets, identity sessions and the live audit feed, kept current from the
// BrokerApi event stream (targets and sessions are re-read when an event concerns them),
// and everything re-read when the stream comes back after the broker restarted.
import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from 'react';
import type { BrokerApi, ConnectorTemplate, IdentitySessionInfo, LoginStart, TargetInfo } from '../../broker/api.js';
import type { AuditRecord } from '../../broker/audit/types.js';
import { ApiError } from '../../broker/api-error.js';
import { connect } from './api.js';
import { apiErrorOf } from './api-error.js';
import { groupAudit, recentConnections } from './audit-groups.js';
import { AuditFeed } from './audit-feed.js';
import { ApprovalPanel, LockButton, useApprovals } from './approvals.js';
import { BrokerBanner } from './banner.js';
import { bannerReducer, INITIAL_BANNER } from './broker-banner.js';
import { LoginNotice, Sessions } from './sessions.js';
import { DeleteDialog } from './delete-dialog.js';
import { TargetForm, type FormMode } from './target-form.js';
import { lastUse, loadPrefs, orderTargets, savePrefs, type SortKey } from './target-order.js';
import { Targets, type TestNote } from './targets.js';
import { useMedia } from './use-media.js';

const FEED_LIMIT = 500;
/** The compact one-line-per-target layout: the tray popover and narrow browser windows. */
export const COMPACT_QUERY = '(max-width: 420px)';

type StreamListener = (state: 'connected' | 'reconnecting') => void;

export function App() {
  // The stream callback is wired before the React tree exists, so it goes through a ref.
  const streamListener = useRef<StreamListener>(() => {});
  const connection = useMemo(() => connect((s) => streamListener.current(s)), []);
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
  return <Connected api={connection.api} streamListener={streamListener} />;
}

function Connected({ api, streamListener }: { api: BrokerApi; streamListener: React.MutableRefObject<StreamListener> }) {
  const compact = useMedia(COMPACT_QUERY);
  const [targets, setTargets] = useState<TargetInfo[]>([]);
  const [sessions, setSessions] = useState<IdentitySessionInfo[]>([]);
  const [audit, setAudit] = useState<AuditRecord[]>([]);
  // An error, and the identity it came from when it was a login (cleared once that session is active).
  const [error, setErrorState] = useState<{ message: string; identity?: string }>();
  const setError = useCallback((message: string | undefined, identity?: string) => setErrorState(message === undefined ? undefined : { message, identity }), []);
  const [banner, dispatch] = useReducer(bannerReducer, INITIAL_BANNER);
  const [editing, setEditing] = useState<FormMode>();
  const [deleting, setDeleting] = useState<string>();
  const [templates, setTemplates] = useState<ConnectorTemplate[]>([]);
  const [testing, setTesting] = useState<ReadonlyMap<string, TestNote>>(new Map());
  const [notice, setNotice] = useState<string>();
  const instance = useRef<string | undefined>(undefined);
  const [pendingLogin, setPendingLogin] = useState<{ identity: string; start: LoginStart; expiresBefore?: string }>();
  const [prefs, setPrefs] = useState(() => loadPrefs(window.localStorage));
  const refreshTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const lost = useRef(false);

  /** Errors about the link itself go to the banner; the rest to the error notice. */
  const report = useCallback(
    (err: unknown, identity?: string) => {
      if (err instanceof ApiError && err.status === 401) return dispatch({ type: 'unauthorized' });
      if (err instanceof TypeError) return dispatch({ type: 'stream-lost' }); // fetch could not reach the broker
      setError(apiErrorOf(err).message, identity);
    },
    [setError],
  );

  const approvals = useApprovals(api, report);
  const onApprovalEvent = approvals.onEvent;
  const reloadApprovals = approvals.reload;

  const refresh = useCallback(async () => {
    try {
      const [t, s] = await Promise.all([api.listTargets(), api.listSessions()]);
      setTargets(t);
      setSessions(s);
    } catch (err) {
      report(err);
    }
  }, [api, report]);

  const reloadAudit = useCallback(async () => {
    try {
      const records = await api.recentAudit({ limit: FEED_LIMIT });
      setAudit(records);
      dispatch({ type: 'history', records });
    } catch (err) {
      report(err);
    }
  }, [api, report]);

  /** Reads the broker's identity and config state; true when it is another process than before. */
  const readInfo = useCallback(async (): Promise<boolean> => {
    try {
      const [info, t] = await Promise.all([api.brokerInfo(), api.connectorTemplates()]);
      setTemplates(t);
      dispatch({ type: 'config', reason: info.configRejected?.reason });
      const restarted = instance.current !== undefined && instance.current !== info.instanceId;
      instance.current = info.instanceId;
      // Test results were about the previous broker process.
      if (restarted) setTesting(new Map());
      return restarted;
    } catch (err) {
      report(err);
      return false;
    }
  }, [api, report]);

  useEffect(() => {
    streamListener.current = (state) => {
      if (state === 'reconnecting') {
        lost.current = true;
        dispatch({ type: 'stream-lost' });
        return;
      }
      if (!lost.current) return;
      lost.current = false;
      // Back after a drop: re-read everything, and say so when it is a new broker process.
      void Promise.all([readInfo(), refresh(), reloadAudit(), reloadApprovals()]).then(([restarted]) => dispatch({ type: 'stream-back', restarted, at: new Date().toISOString() }));
    };
  }, [streamListener, refresh, reloadAudit, readInfo, reloadApprovals]);

  useEffect(() => {
    void refresh();
    void reloadAudit();
    void readInfo();
    const off = api.subscribe((event) => {
      if (event.type === 'approval.requested' || event.type === 'approval.resolved' || event.type === 'lock.changed') return onApprovalEvent(event);
      if (event.type === 'config.rejected' || event.type === 'config.applied') {
        dispatch({ type: 'config', reason: event.type === 'config.rejected' ? event.reason : undefined });
      }
      // Electron main's own events (the preload relays them): the broker process's state,
      // and "show this target" when a notification was clicked.
      if (event.type === 'broker.state') {
        const st = event.status;
        const where = st.state === 'config-error' ? ` (${st.file}${st.line ? `, line ${st.line}` : ''})` : '';
        dispatch({ type: 'shell', state: st.state, ...('reason' in st ? { reason: `${st.reason}${where}` } : {}) });
        if (st.state === 'running') void Promise.all([readInfo(), refresh(), reloadAudit(), reloadApprovals()]);
        return;
      }
      if (event.type === 'ui.focus') {
        if (event.approval) document.querySelector<HTMLElement>(`[data-approval="${CSS.escape(event.approval)}"] button.primary`)?.focus();
        if (event.target) document.querySelector<HTMLElement>(`li.target[data-target="${CSS.escape(event.target)}"]`)?.focus();
        return;
      }
      if (event.type === 'audit') {
        setAudit((prev) => [event.record, ...prev].slice(0, FEED_LIMIT));
        dispatch({ type: 'audit', record: event.record });
        if (event.record.type !== 'connection.opened' && event.record.type !== 'connection.closed' && event.record.type !== 'connection.failed') return;
      }
      // Bursts of events (many connections) cause one re-read.
      clearTimeout(refreshTimer.current);
      refreshTimer.current = setTimeout(() => void refresh(), 100);
    });
    return () => {
      off();
      clearTimeout(refreshTimer.current);
    };
  }, [api, refresh, reloadAudit, readInfo, onApprovalEvent, reloadApprovals]);

  const act = useCallback(
    async (what: () => Promise<unknown>) => {
      setError(undefined);
      try {
        await what();
      } catch (err) {
        report(err);
      }
      await refresh();
    },
    [refresh, report, setError],
  );

  const login = useCallback(
    async (identity: string) => {
      setError(undefined);
      setPendingLogin(undefined);
      try {
        const expiresBefore = sessions.find((s) => s.name === identity)?.expiresAt;
        const start = await api.login(identity);
        setPendingLogin({ identity, start, expiresBefore });
        if (start.flow === 'authorization_code') window.open(start.url, '_blank', 'noopener,noreferrer');
      } catch (err) {
        report(err, identity);
      }
    },
    [api, report, sessions, setError],
  );

  // A login notice or login error is stale once that session has a fresh login.
  useEffect(() => {
    const fresh = (identity: string, before?: string) => sessions.some((s) => s.name === identity && s.state === 'active' && s.expiresAt !== before);
    if (pendingLogin && fresh(pendingLogin.identity, pendingLogin.expiresBefore)) setPendingLogin(undefined);
    if (error?.identity && sessions.some((s) => s.name === error.identity && s.state === 'active')) setErrorState(undefined);
  }, [sessions, pendingLogin, error]);

  const rows = useMemo(() => groupAudit(audit), [audit]);
  const ordered = useMemo(() => orderTargets(targets, { ...prefs, lastUse: lastUse(audit) }), [targets, prefs, audit]);
  const updatePrefs = (next: { sort: SortKey; pinned: Set<string> }) => {
    setPrefs(next);
    savePrefs(window.localStorage, next);
  };

  return (
    <main className={`app${compact ? ' compact' : ''}`}>
      <header className="top">
        <h1>Secretless Desktop</h1>
        <span className={`stream ${banner.link.type === 'reconnecting' ? 'reconnecting' : 'connected'}`}>{banner.link.type === 'reconnecting' ? 'Reconnecting…' : 'Live'}</span>
        <LockButton state={approvals} />
        <button type="button" className="primary" onClick={() => setEditing({ type: 'add' })}>
          Add target
        </button>
      </header>
      <BrokerBanner state={banner} onDismiss={() => dispatch({ type: 'dismiss' })} />
      <ApprovalPanel state={approvals} />
      {error && (
        <p role="alert" className="notice error">
          {error.message}{' '}
          <button type="button" className="link" onClick={() => setError(undefined)}>
            Dismiss
          </button>
        </p>
      )}
      {notice && (
        <p role="status" className="notice">
          {notice}{' '}
          <button type="button" className="link" onClick={() => setNotice(undefined)}>
            Dismiss
          </button>
        </p>
      )}
      {pendingLogin && <LoginNotice identity={pendingLogin.identity} start={pendingLogin.start} />}
      <Targets
        targets={ordered}
        sessions={sessions}
        compact={compact}
        sort={prefs.sort}
        onSort={(sort) => updatePrefs({ ...prefs, sort })}
        pinned={prefs.pinned}
        onPin={(name, on) => {
          const pinned = new Set(prefs.pinned);
          if (on) pinned.add(name);
          else pinned.delete(name);
          updatePrefs({ ...prefs, pinned });
        }}
        recent={(name) => recentConnections(rows, name)}
        onStart={(n) => act(() => api.startTarget(n))}
        onStop={(n) => act(() => api.stopTarget(n))}
        onEdit={(t) => setEditing({ type: 'edit', name: t.name })}
        onDuplicate={(t) => setEditing({ type: 'duplicate', name: t.name })}
        onDelete={(t) => setDeleting(t.name)}
        testing={testing}
        onTest={async (name) => {
          setTesting((m) => new Map(m).set(name, { text: 'Testing…', at: new Date().toISOString() }));
          let note: TestNote;
          try {
            const r = await api.testTarget(name);
            // Stamped on arrival (after the broker recorded it), so only a later health change hides it.
            note = { at: new Date().toISOString(), text: r.type === 'ok' ? `Test ok: logged in to ${r.target} in ${Math.round(r.latencyMs)} ms` : `Test failed: ${r.reason}` };
          } catch (err) {
            note = { at: new Date().toISOString(), text: `Test failed: ${apiErrorOf(err).message}` };
          }
          setTesting((m) => new Map(m).set(name, note));
          await refresh();
        }}
        onLogin={(i) => void login(i)}
      />
      <Sessions sessions={sessions} api={api} onError={setError} onChange={refresh} onLogin={(i) => void login(i)} />
      <AuditFeed rows={rows} targets={targets.map((t) => t.name)} />
      {editing && (
        <TargetForm
          api={api}
          templates={templates}
          mode={editing}
          onCancel={() => setEditing(undefined)}
          onSaved={() => {
            setEditing(undefined);
            void refresh();
          }}
        />
      )}
      {deleting && (
        <DeleteDialog
          api={api}
          name={deleting}
          onCancel={() => setDeleting(undefined)}
          onDone={(r) => {
            setDeleting(undefined);
            const kept = r.keptKeychainItems.map((k) => `${k.id} (used by ${k.usedBy.join(', ')})`);
            setNotice(
              `Deleted ${r.name}.` +
                (r.removedKeychainItems.length ? ` Removed from the keychain: ${r.removedKeychainItems.join(', ')}.` : '') +
                (kept.length ? ` Kept in the keychain: ${kept.join(', ')}.` : ''),
            );
            void refresh();
          }}
        />
      )}
    </main>
  );
}
