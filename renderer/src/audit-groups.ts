// The audit feed as people read it: one row per client connection (its opened /
// credential / authenticated / failed / closed records folded together), and one row per
// other event (identity, config, service). Pure: the feed component only renders this.
import type { AuditRecord, ClientInfo } from '../../broker/audit/types.js';

export type Outcome = 'ok' | 'failed' | 'open';

export type FeedRow =
  | {
      type: 'connection';
      key: string;
      service: string;
      /** Time of the first record (the client connecting). */
      time: string;
      client?: ClientInfo;
      /** A Test connection login (the Test button or `secretless-desktop test`), not a client. */
      test?: boolean;
      durationMs?: number;
      bytesFromClient?: number;
      bytesToClient?: number;
      outcome: Outcome;
      /** For failed connections: the catalog code and reason. */
      code?: string;
      reason?: string;
      /** Oldest first. */
      records: AuditRecord[];
    }
  | { type: 'event'; key: string; time: string; subject: string; outcome: 'ok' | 'failed'; record: AuditRecord };

const FAILED = /\.(failed|refused|rejected)$/;

export function isFailedRecord(r: AuditRecord): boolean {
  return FAILED.test(r.type) || r.type === 'audit.dropped';
}

/** Records newest first in, rows newest first out (a connection sorts by when it opened). */
export function groupAudit(records: readonly AuditRecord[]): FeedRow[] {
  const byConnection = new Map<string, Extract<FeedRow, { type: 'connection' }>>();
  const rows: FeedRow[] = [];
  // Walk oldest first so each connection's records come out in order.
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i]!;
    const id = 'connectionId' in r ? r.connectionId : undefined;
    if (!id || !('service' in r)) {
      rows.push({ type: 'event', key: `e${i}-${r.time}`, time: r.time, subject: subjectOf(r), outcome: isFailedRecord(r) ? 'failed' : 'ok', record: r });
      continue;
    }
    let row = byConnection.get(id);
    if (!row) {
      row = { type: 'connection', key: `c-${id}`, service: r.service, time: r.time, outcome: 'open', records: [] };
      byConnection.set(id, row);
      rows.push(row);
    }
    row.records.push(r);
    switch (r.type) {
      case 'connection.opened':
        row.client = r.client;
        break;
      case 'connection.failed':
        row.outcome = 'failed';
        row.code = r.code;
        row.reason = r.reason;
        break;
      case 'credential.failed':
        row.outcome = 'failed';
        row.reason ??= `${r.provider} ${r.id}: ${r.reason}`;
        break;
      case 'target.tested':
        // A Test connection login: no client, its latency is its duration.
        row.test = true;
        row.durationMs = r.latencyMs;
        row.outcome = 'ok';
        break;
      case 'target.test.failed':
        row.test = true;
        row.outcome = 'failed';
        row.code = r.code;
        row.reason = r.reason;
        break;
      case 'connection.closed':
        row.durationMs = r.durationMs;
        row.bytesFromClient = r.bytesFromClient;
        row.bytesToClient = r.bytesToClient;
        if (row.outcome === 'open') row.outcome = 'ok';
        break;
    }
  }
  return rows.reverse();
}

export function subjectOf(r: AuditRecord): string {
  if ('service' in r) return r.service;
  if ('identity' in r) return r.identity;
  if (r.type === 'config.loaded' || r.type === 'config.rejected') return 'config';
  if (r.type === 'audit.dropped') return 'audit log';
  return '';
}

export function clientLabel(c: ClientInfo | undefined): string {
  if (!c) return 'client';
  const where = c.transport === 'tcp' ? `${c.address ?? '?'}:${c.port ?? '?'}` : 'unix socket';
  return c.pid ? `pid ${c.pid} (${where})` : where;
}

export function formatBytes(n: number | undefined): string {
  if (n === undefined) return '–';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)}m ${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

const time = (iso: string) => new Date(iso).toLocaleTimeString();

const ANSWER_TEXT: Record<Extract<AuditRecord, { type: 'approval.answered' }>['answer'], string> = {
  'allow-once': 'allowed once',
  'allow-process': 'allowed until it exits',
  'allow-executable': 'executable allowed',
  deny: 'denied',
  timeout: 'not answered in time (denied)',
  withdrawn: 'went away before an answer',
};

const programLabel = (p: { pid?: number; exe?: string }): string => (p.exe ? `${p.exe.replace(/^.*\//, '')}${p.pid !== undefined ? ` (pid ${p.pid})` : ''}` : p.pid !== undefined ? `pid ${p.pid}` : 'a program');

/** One readable line per record (never a secret: records carry ids and provider names only). */
export function describe(r: AuditRecord): string {
  switch (r.type) {
    case 'connection.opened':
      return `client connected: ${clientLabel(r.client)}`;
    case 'connection.authenticated':
      return `logged in to ${r.target} with ${r.authMethod}${r.tls ? ' over TLS' : ''}`;
    case 'connection.failed':
      return `failed (${r.code}): ${r.reason}`;
    case 'connection.closed':
      return `closed after ${formatDuration(r.durationMs)}: ${formatBytes(r.bytesFromClient)} sent, ${formatBytes(r.bytesToClient)} received`;
    case 'credential.fetched':
      return `credential ${r.id} from ${r.provider}${r.cached ? ' (cached)' : ''}${r.expiresAt ? `, valid until ${time(r.expiresAt)}` : ''}`;
    case 'credential.failed':
      return `credential ${r.id} from ${r.provider} failed: ${r.reason}`;
    case 'credential.rotated':
      return `credential ${r.id} in ${r.provider} changed`;
    case 'credential.expiring':
      return `credential ${r.id} from ${r.provider} expires at ${time(r.expiresAt)}`;
    case 'identity.login':
      // Workload identities (github-actions, token-file, token-env) record their first token as a login.
      if (r.flow !== 'device_code' && r.flow !== 'authorization_code') return `${r.flow} token read${r.expiresAt ? `, valid until ${time(r.expiresAt)}` : ''}`;
      return `logged in (${r.flow === 'device_code' ? 'device code' : 'browser'})${r.expiresAt ? `, session until ${time(r.expiresAt)}` : ''}`;
    case 'identity.refreshed':
      return `session refreshed${r.expiresAt ? `, until ${time(r.expiresAt)}` : ''}`;
    case 'identity.failed':
      return `${r.step} failed: ${r.reason}`;
    case 'identity.logout':
      return `logged out${r.revoked ? ' (tokens revoked at the issuer)' : ''}`;
    case 'identity.exchanged':
      return `exchanged the session for ${r.provider} credentials${r.expiresAt ? ` valid until ${time(r.expiresAt)}` : ''}`;
    case 'ssh-agent.signed':
      return `signed with ${r.key} for ${clientLabel(r.client)}`;
    case 'ssh-agent.refused':
      return `refused agent request: ${r.request}`;
    case 'command.intercepted':
      return `client ${r.command}${r.requestedUser !== undefined ? ` as ${r.requestedUser}` : ''} ${r.action === 'answered' ? "answered by the broker (the session keeps the service's login)" : r.action === 'refused' ? "refused: the session keeps the service's login" : 'with a wrong number of arguments'}`;
    case 'target.tested':
      return `test login to ${r.target} with ${r.authMethod} ok in ${formatDuration(r.latencyMs)}`;
    case 'target.test.failed':
      return `test login failed (${r.code}): ${r.reason}`;
    case 'cancel.forwarded':
      return 'query cancel forwarded';
    case 'http.request':
      // The path only: the query string is never recorded (it may hold secrets).
      return `${r.method} ${r.path} → ${r.status || 'no answer'}${r.outcome === 'ok' ? '' : ` (${r.outcome})`}, ${formatBytes(r.bytesIn)} up, ${formatBytes(r.bytesOut)} down, ${formatDuration(r.durationMs)}`;
    case 'service.started':
      return `listening on ${r.address}`;
    case 'service.stopped':
      return 'stopped';
    case 'service.failed':
      return `could not listen: ${r.reason}`;
    case 'config.loaded':
      return `config loaded: ${r.services} target${r.services === 1 ? '' : 's'} from ${r.source}`;
    case 'config.rejected':
      return `config change rejected (the last good config stays in use): ${r.reason}`;
    case 'audit.dropped':
      return `${r.count} record${r.count === 1 ? '' : 's'} could not be written to the audit file: ${r.reason}`;
    case 'approval.requested':
      return `${programLabel(r.process)} asked to use it${r.key ? ` (key ${r.key})` : ''}${r.locked ? ' (locked)' : ''}`;
    case 'approval.answered':
      return `${programLabel(r.process)}: ${ANSWER_TEXT[r.answer]}${r.forMs ? ` for ${formatDuration(r.forMs)}` : ''} (by ${r.by})`;
    case 'approval.reused':
      return `${programLabel(r.process)} let through by an earlier answer (${r.grant === 'process' ? 'until it exits' : 'its executable'})`;
    case 'access.locked':
      return `locked by ${r.by}: ${r.grantsRevoked} approval${r.grantsRevoked === 1 ? '' : 's'} revoked${r.sessionsClosed ? `, ${r.sessionsClosed} session${r.sessionsClosed === 1 ? '' : 's'} closed` : ''}`;
    case 'access.unlocked':
      return `unlocked by ${r.by}`;
    default:
      // A record type newer than this renderer: its name still says what happened.
      return (r as { type: string }).type;
  }
}

/** The last few connections of one target, newest first. */
export function recentConnections(rows: readonly FeedRow[], service: string, n = 3): Extract<FeedRow, { type: 'connection' }>[] {
  const out: Extract<FeedRow, { type: 'connection' }>[] = [];
  for (const r of rows) {
    if (r.type === 'connection' && r.service === service) out.push(r);
    if (out.length === n) break;
  }
  return out;
}
