// The live audit feed, newest first: one row per client connection (client, duration,
// bytes, outcome) that expands to its records, and one readable row per other event.
// Records never carry secrets (ids and provider names only).
import { useState } from 'react';
import { clock } from './time.js';
import { clientLabel, describe, formatBytes, formatDuration, type FeedRow } from './audit-groups.js';

function OutcomeBadge({ outcome }: { outcome: FeedRow['outcome'] }) {
  return <span className={`outcome ${outcome}`}>{outcome === 'ok' ? 'ok' : outcome === 'failed' ? 'failed' : 'open'}</span>;
}

export function AuditFeed({ rows, targets }: { rows: FeedRow[]; targets: string[] }) {
  const [target, setTarget] = useState('');
  const [outcome, setOutcome] = useState<'' | 'ok' | 'failed'>('');
  const shown = rows.filter((r) => (!target || (r.type === 'connection' ? r.service : r.subject) === target) && (!outcome || (outcome === 'failed' ? r.outcome === 'failed' : r.outcome !== 'failed')));
  return (
    <section aria-labelledby="audit-title" className="panel">
      <div className="panel-head">
        <h2 id="audit-title">Audit feed</h2>
        <div className="filters">
          <label htmlFor="audit-target" className="visually-hidden">
            Target
          </label>
          <select id="audit-target" value={target} onChange={(e) => setTarget(e.target.value)}>
              <option value="">All targets</option>
              {targets.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
          </select>
          <label htmlFor="audit-outcome" className="visually-hidden">
            Outcome
          </label>
          <select id="audit-outcome" value={outcome} onChange={(e) => setOutcome(e.target.value as '' | 'ok' | 'failed')}>
              <option value="">Any outcome</option>
              <option value="ok">OK</option>
              <option value="failed">Failed</option>
          </select>
        </div>
      </div>
      {shown.length === 0 ? (
        <p className="muted">No audit records{target || outcome ? ' match the filters' : ' yet'}.</p>
      ) : (
        <ol className="audit" role="log" aria-label="Audit feed, newest first">
          {shown.map((r) => (r.type === 'connection' ? <ConnectionRow key={r.key} row={r} /> : <EventRow key={r.key} row={r} />))}
        </ol>
      )}
    </section>
  );
}

function ConnectionRow({ row }: { row: Extract<FeedRow, { type: 'connection' }> }) {
  const bytes = row.bytesFromClient === undefined ? '' : `${formatBytes(row.bytesFromClient)} ↑ ${formatBytes(row.bytesToClient)} ↓`;
  return (
    <li className={`row connection ${row.outcome}`} data-kind="connection" data-target={row.service} data-outcome={row.outcome}>
      <details>
        <summary>
          <time dateTime={row.time}>{clock(row.time)}</time>
          <span className="subject">{row.service}</span>
          <span className="client">{row.test ? 'Test connection' : clientLabel(row.client)}</span>
          <span className="duration">{formatDuration(row.durationMs)}</span>
          <span className="bytes">{bytes}</span>
          <OutcomeBadge outcome={row.outcome} />
          {row.outcome === 'failed' && <span className="reason">{row.code ? `${row.code}: ` : ''}{row.reason}</span>}
        </summary>
        <ol className="records" aria-label={`Records of this ${row.service} connection`}>
          {row.records.map((r, i) => (
            <li key={i} data-type={r.type} className={r.type.endsWith('.failed') ? 'failed' : ''}>
              <time dateTime={r.time}>{clock(r.time)}</time> <span className="type">{r.type}</span> {describe(r)}
            </li>
          ))}
        </ol>
      </details>
    </li>
  );
}

function EventRow({ row }: { row: Extract<FeedRow, { type: 'event' }> }) {
  return (
    <li className={`row event ${row.outcome}`} data-kind="event" data-type={row.record.type} data-target={row.subject}>
      <time dateTime={row.time}>{clock(row.time)}</time>
      <span className="subject">{row.subject}</span>
      <span className="summary">{describe(row.record)}</span>
    </li>
  );
}
