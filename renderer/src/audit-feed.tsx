// The live audit feed, newest first. Records never carry secrets (ids and provider names
// only); the feed shows a summary line per record.
import { useState } from 'react';
import type { AuditRecord } from '../../broker/audit/types.js';

const FAILED = /\.(failed|refused|rejected)$/;

export function isFailed(r: AuditRecord): boolean {
  return FAILED.test(r.type);
}

export function summary(r: AuditRecord): string {
  switch (r.type) {
    case 'connection.opened':
      return `client ${r.client.transport === 'tcp' ? `${r.client.address}:${r.client.port}` : 'unix socket'}${r.client.pid ? ` (pid ${r.client.pid})` : ''}`;
    case 'connection.authenticated':
      return `logged in to ${r.target} with ${r.authMethod}${r.tls ? ' over TLS' : ''}`;
    case 'connection.failed':
      return `${r.code}: ${r.reason}`;
    case 'connection.closed':
      return `${r.bytesFromClient} B sent, ${r.bytesToClient} B received, ${Math.round(r.durationMs)} ms`;
    case 'credential.fetched':
      return `${r.provider} ${r.id}${r.cached ? ' (cached)' : ''}${r.expiresAt ? `, expires ${new Date(r.expiresAt).toLocaleTimeString()}` : ''}`;
    case 'credential.failed':
      return `${r.provider} ${r.id}: ${r.reason}`;
    case 'credential.rotated':
      return `${r.provider} ${r.id} rotated`;
    case 'credential.expiring':
      return `${r.provider} ${r.id} expires ${new Date(r.expiresAt).toLocaleTimeString()}`;
    case 'service.started':
      return `listening on ${r.address}`;
    case 'service.failed':
      return r.reason;
    case 'command.intercepted':
      return `client ${r.command}${r.requestedUser !== undefined ? ` as ${r.requestedUser}` : ''} ${r.action === 'answered' ? "answered by the broker (the session keeps the service's login)" : r.action === 'refused' ? "refused: the session keeps the service's login" : 'with a wrong number of arguments'}`;
    case 'config.loaded':
      return `${r.services} service(s) from ${r.source}`;
    case 'config.rejected':
      return r.reason;
    case 'audit.dropped':
      return `${r.count} record(s) could not be written to the audit file: ${r.reason}`;
    default:
      return '';
  }
}

function subject(r: AuditRecord): string {
  if ('service' in r) return r.service;
  if ('identity' in r) return r.identity;
  return '';
}

export function AuditFeed({ records, targets }: { records: AuditRecord[]; targets: string[] }) {
  const [target, setTarget] = useState('');
  const [outcome, setOutcome] = useState<'' | 'ok' | 'failed'>('');
  const shown = records.filter((r) => (!target || subject(r) === target) && (!outcome || isFailed(r) === (outcome === 'failed')));
  return (
    <section aria-labelledby="audit-title" className="panel">
      <div className="panel-head">
        <h2 id="audit-title">Audit feed</h2>
        <div className="filters">
          <label htmlFor="audit-target">Target</label>
          <select id="audit-target" value={target} onChange={(e) => setTarget(e.target.value)}>
              <option value="">All</option>
              {targets.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          <label htmlFor="audit-outcome">Outcome</label>
          <select id="audit-outcome" value={outcome} onChange={(e) => setOutcome(e.target.value as '' | 'ok' | 'failed')}>
              <option value="">All</option>
              <option value="ok">OK</option>
              <option value="failed">Failed</option>
            </select>
        </div>
      </div>
      {shown.length === 0 ? (
        <p className="muted">No audit records{target || outcome ? ' match the filters' : ' yet'}.</p>
      ) : (
        <ol className="audit" role="log" aria-label="Audit records, newest first">
          {shown.map((r, i) => (
            <li key={`${r.time}-${i}-${r.type}`} className={isFailed(r) ? 'failed' : 'ok'} data-type={r.type}>
              <time dateTime={r.time}>{new Date(r.time).toLocaleTimeString()}</time>
              <span className="type">{r.type}</span>
              <span className="subject">{subject(r)}</span>
              <span className="summary">{summary(r)}</span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
