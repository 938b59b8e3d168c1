// The target list. Wide: two lines per target (health with its reason, actions; address,
// expiries, recent connections). Compact (≤ 420 px, the tray popover): one line per
// target. Keyboard: `/` focuses the filter, the arrows move between targets, Enter
// starts or stops the focused one, Escape returns focus to where it was.
import { useEffect, useRef, useState } from 'react';
import type { IdentitySessionInfo, TargetInfo } from '../../broker/api.js';
import { clientLabel, formatDuration, type FeedRow } from './audit-groups.js';
import { connectionStrings, splitAddress } from '../../broker/connection-strings.js';
import { CopyMenu } from './copy-menu.js';
import { Countdown } from './countdown.js';
import { healthColour, healthLabel, healthOf } from './health.js';
import { clock } from './time.js';
import { SORT_LABELS, type SortKey } from './target-order.js';

/** What the last Test button press said, and when. */
export interface TestNote {
  text: string;
  at: string;
}

export interface TargetActions {
  onStart(name: string): void;
  onStop(name: string): void;
  onEdit(t: TargetInfo): void;
  onLogin(identity: string): void;
  onTest?(name: string): void;
  onDuplicate?(t: TargetInfo): void;
  onDelete?(t: TargetInfo): void;
}

interface Props extends TargetActions {
  /** Already ordered (pins first, then the sort key). */
  targets: TargetInfo[];
  sessions: IdentitySessionInfo[];
  compact: boolean;
  sort: SortKey;
  onSort(sort: SortKey): void;
  pinned: ReadonlySet<string>;
  onPin(name: string, pinned: boolean): void;
  /** Recent connections per target, newest first. */
  recent(name: string): Extract<FeedRow, { type: 'connection' }>[];
  /** Test results in progress or just finished, per target. */
  testing?: ReadonlyMap<string, TestNote>;
}

function isTyping(el: Element | null): boolean {
  return !!el && (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement || (el as HTMLElement).isContentEditable);
}

/** The address in the tray layout: `:port` on loopback (always 127.0.0.1 here), else host:port, or the socket path. */
export function shortAddress(address: string): string {
  const a = splitAddress(address);
  if (!a) return address;
  if (a.socket) return a.socket;
  return a.host === '127.0.0.1' ? `:${a.port}` : `${a.host}:${a.port}`;
}

export function Targets(props: Props) {
  const { targets, compact } = props;
  const [filter, setFilter] = useState('');
  const [active, setActive] = useState<string>();
  const filterInput = useRef<HTMLInputElement>(null);
  const list = useRef<HTMLUListElement>(null);
  const returnTo = useRef<HTMLElement | null>(null);

  const f = filter.trim().toLowerCase();
  const shown = f ? targets.filter((t) => `${t.name} ${t.connector} ${t.listenOn}`.toLowerCase().includes(f)) : targets;
  const activeName = shown.some((t) => t.name === active) ? active : shown[0]?.name;

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey || isTyping(document.activeElement) || document.querySelector('dialog[open]')) return;
      e.preventDefault();
      returnTo.current = document.activeElement instanceof HTMLElement && document.activeElement !== document.body ? document.activeElement : null;
      filterInput.current?.focus();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  const focusRow = (name: string | undefined) => {
    if (!name) return;
    setActive(name);
    list.current?.querySelector<HTMLElement>(`li[data-target="${CSS.escape(name)}"]`)?.focus();
  };

  const onFilterKey = (e: React.KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      const back = returnTo.current;
      returnTo.current = null;
      if (back && back.isConnected) back.focus();
      else focusRow(activeName);
    } else if (e.key === 'ArrowDown') {
      e.preventDefault();
      focusRow(shown[0]?.name);
    }
  };

  const onRowKey = (e: React.KeyboardEvent<HTMLLIElement>, t: TargetInfo) => {
    if (e.target !== e.currentTarget) return; // keys inside the row's own buttons stay theirs
    const i = shown.findIndex((s) => s.name === t.name);
    const move = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: shown.length - 1 }[e.key as 'ArrowDown'];
    if (move !== undefined) {
      e.preventDefault();
      if (move >= 0 && move < shown.length) focusRow(shown[move]!.name);
      else if (move < 0) filterInput.current?.focus();
    } else if (e.key === 'Enter') {
      e.preventDefault();
      if (t.status.state === 'listening') props.onStop(t.name);
      else props.onStart(t.name);
    }
  };

  return (
    <section aria-labelledby="targets-title" className="panel">
      <div className="panel-head">
        <h2 id="targets-title">Targets</h2>
        <div className="list-tools">
          <label className="search">
            <span className="visually-hidden">Filter targets</span>
            <input ref={filterInput} type="search" placeholder="Filter targets  ( / )" value={filter} onChange={(e) => setFilter(e.target.value)} onKeyDown={onFilterKey} />
          </label>
          <label htmlFor="target-sort" className="visually-hidden">
            Sort targets by
          </label>
          <select id="target-sort" value={props.sort} onChange={(e) => props.onSort(e.target.value as SortKey)}>
              {(Object.keys(SORT_LABELS) as SortKey[]).map((k) => (
                <option key={k} value={k}>
                  {SORT_LABELS[k]}
                </option>
              ))}
          </select>
        </div>
      </div>
      {targets.length === 0 ? (
        <p className="muted">No targets yet. Add one, or edit the config file.</p>
      ) : shown.length === 0 ? (
        <p className="muted">No target matches “{filter}”.</p>
      ) : (
        <ul className={`targets${compact ? ' compact' : ''}`} ref={list} aria-label="Targets (arrow keys move, Enter starts or stops)">
          {shown.map((t) => (
            <TargetRow key={t.name} t={t} {...props} tabIndex={t.name === activeName ? 0 : -1} onFocus={() => setActive(t.name)} onKeyDown={(e) => onRowKey(e, t)} />
          ))}
        </ul>
      )}
    </section>
  );
}

type RowProps = Props & { t: TargetInfo; tabIndex: number; onFocus(): void; onKeyDown(e: React.KeyboardEvent<HTMLLIElement>): void };

function TargetRow({ t, sessions, compact, pinned, onPin, recent, testing, tabIndex, onFocus, onKeyDown, ...actions }: RowProps) {
  const session = t.identity ? sessions.find((s) => s.name === t.identity) : undefined;
  const running = t.status.state === 'listening';
  const health = healthOf(t);
  const label = healthLabel(health, t.connections);
  const address = t.status.state === 'listening' ? t.status.address : t.listenOn;
  const isPinned = pinned.has(t.name);
  // A test result is shown until something newer happened to the target's health.
  const note = testing?.get(t.name);
  const test = note && !('at' in health && health.at > note.at) ? note.text : undefined;

  const pin = (
    <button type="button" className={`pin${isPinned ? ' on' : ''}`} aria-pressed={isPinned} aria-label={`Pin ${t.name}`} title={isPinned ? 'Unpin' : 'Pin to the top'} onClick={() => onPin(t.name, !isPinned)}>
      {isPinned ? '★' : '☆'}
    </button>
  );
  const startStop = running ? (
    <button type="button" className={compact ? 'small' : ''} onClick={() => actions.onStop(t.name)} aria-label={`Stop ${t.name}`}>
      Stop
    </button>
  ) : (
    <button type="button" className={`primary${compact ? ' small' : ''}`} onClick={() => actions.onStart(t.name)} aria-label={`Start ${t.name}`}>
      Start
    </button>
  );
  const dot = <span className={`dot ${healthColour(health)}`} aria-hidden="true" />;
  const copy = <CopyMenu target={t.name} strings={connectionStrings(t)} />;
  const common = {
    className: `target ${t.status.state} health-${health.type}`,
    'aria-label': `Target ${t.name}`,
    'data-target': t.name,
    tabIndex,
    onFocus: (e: React.FocusEvent) => e.target === e.currentTarget && onFocus(),
    onKeyDown,
  };

  if (compact) {
    return (
      <li {...common} title={`${t.name}: ${label}`}>
        {pin}
        <button type="button" className="name link" onClick={() => actions.onEdit(t)} aria-label={`Edit ${t.name}`}>
          {t.name}
        </button>
        <span className="protocol">{t.connector}</span>
        <span className="health" data-testid="state" title={label}>
          {dot}
          <span className="visually-hidden">{label}</span>
        </span>
        <code className="address" data-testid="address" title={address}>
          {shortAddress(address)}
        </code>
        <span className="expiry-cell">
          <Countdown short label="Credential" expiresAt={t.credentialExpiresAt} />
          {session && <Countdown short label={`Session ${session.name}`} expiresAt={session.expiresAt} onRenew={() => actions.onLogin(session.name)} renewLabel="Log in" />}
        </span>
        {startStop}
        {copy}
      </li>
    );
  }

  const recentRows = recent(t.name);
  return (
    <li {...common}>
      <div className="target-main">
        {pin}
        <h3>{t.name}</h3>
        <span className="protocol">{t.connector}</span>
        <span className={`health ${healthColour(health)}`} data-testid="state">
          {dot} {label}
        </span>
        {test && (
          <span className="test-result" role="status" data-testid="test-result">
            {test}
          </span>
        )}
      </div>
      <div className="target-actions">
        {startStop}
        {actions.onTest && (
          <button type="button" onClick={() => actions.onTest!(t.name)} aria-label={`Test connection to ${t.name}`} disabled={!running}>
            Test
          </button>
        )}
        {copy}
        <button type="button" onClick={() => actions.onEdit(t)} aria-label={`Edit ${t.name}`}>
          Edit
        </button>
        {actions.onDuplicate && (
          <button type="button" onClick={() => actions.onDuplicate!(t)} aria-label={`Duplicate ${t.name}`}>
            Duplicate
          </button>
        )}
        {actions.onDelete && (
          <button type="button" className="danger" onClick={() => actions.onDelete!(t)} aria-label={`Delete ${t.name}`}>
            Delete
          </button>
        )}
      </div>
      <div className="target-details">
        <span>
          <span className="muted">Local address</span> <code data-testid="address">{address}</code>
        </span>
        {t.hostKeyFingerprint && (
          <span className="muted">
            Host key <code data-testid="host-key">{t.hostKeyFingerprint}</code>
          </span>
        )}
        <Countdown label="Credential" expiresAt={t.credentialExpiresAt} />
        {session && <Countdown label={`Session ${session.name}`} expiresAt={session.expiresAt} onRenew={() => actions.onLogin(session.name)} renewLabel="Log in again" />}
      </div>
      {recentRows.length > 0 && (
        <ul className="recent" aria-label={`Recent connections to ${t.name}`}>
          {recentRows.map((r) => (
            <li key={r.key} className={r.outcome}>
              <time dateTime={r.time}>{clock(r.time)}</time> {r.test ? 'test' : clientLabel(r.client)} ·{' '}
              {r.outcome === 'open' ? 'open' : r.outcome === 'failed' ? `failed${r.code ? ` (${r.code})` : ''}` : formatDuration(r.durationMs)}
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}
