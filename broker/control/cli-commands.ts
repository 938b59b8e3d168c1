// `secretless-desktop status | start NAME | stop NAME | test NAME | delete NAME | open |
// audit [--follow]`: the CLI as one more client of the running broker's control API,
// found through the control file. `audit` reads the audit log file when no broker runs.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { AuditQuery, BrokerApi, IdentitySessionInfo, TargetInfo } from '../api.js';
import type { AuditRecord } from '../audit/types.js';
import { userStateDir } from '../config/load.js';
import { isArgumentError } from '../cli-help.js';
import { healthText, isUnhealthy } from '../health.js';
import { didYouMean } from '../suggest.js';
import { openSystemBrowser } from '../identity/loopback.js';
import { createHttpBrokerApi } from './http-client.js';
import { controlFilePath, isAlive, readControlFile, type ControlInfo } from './runtime-file.js';
import { CodedError } from '../errors.js';
import { APPROVAL_COMMANDS, approvalCommand } from './approval-commands.js';

export function parseUiPort(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new Error(`--ui-port: '${text}' is not a port number (0-65535)`);
  return Number(text);
}

class Usage extends CodedError {
  constructor(message: string) {
    super('invalid_input', message);
  }
}

class NoBroker extends Error {}

/** The running broker's control file; throws with a clear message when there is none. */
function runningBroker(stateDir = userStateDir()): ControlInfo {
  const file = controlFilePath(stateDir);
  const info = readControlFile(file);
  if (!info || !isAlive(info.pid)) {
    throw new NoBroker(`no running broker found (${file} ${info ? 'names a process that has exited' : 'does not exist'}); start one with: secretless-desktop serve --ui`);
  }
  return info;
}

/** Connects to the running broker; throws with a clear message when there is none. */
export function connectToBroker(stateDir = userStateDir(), onConnection?: (state: 'connected' | 'reconnecting') => void): BrokerApi {
  const info = runningBroker(stateDir);
  return createHttpBrokerApi({ baseUrl: info.url, token: info.token, onConnection });
}

export async function controlCommand(command: string, args: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  try {
    await run(command, args, out);
  } catch (err) {
    if (isArgumentError(err)) throw err; // the CLI prints it with the command's help
    const message = err instanceof TypeError && /fetch failed/.test(err.message) ? 'the broker did not answer (it may have just stopped)' : (err as Error).message;
    process.stderr.write(`secretless-desktop ${command}: ${message}\n`);
    // Usage mistakes (here and in approval-commands.ts) exit 2, like argument errors.
    process.exitCode = err instanceof Usage || (err instanceof CodedError && err.code === 'invalid_input') ? 2 : 1;
  }
}

/**
 * `secretless-desktop open [--new-token] [--no-browser]`: the running broker's UI URL,
 * printed and opened. With --new-token the broker makes a new access token first (pages
 * opened with the old one are refused from then on).
 */
async function open(args: string[], out: (s: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({ args, options: { 'new-token': { type: 'boolean', default: false }, 'no-browser': { type: 'boolean', default: false } }, allowPositionals: true });
  if (positionals.length > 0) throw new Usage(`unexpected argument '${positionals[0]}'`);
  const info = runningBroker();
  let pageUrl = `${info.url}/#token=${info.token}`;
  if (values['new-token']) {
    const res = await fetch(`${info.url}/api/rotate-token`, { method: 'POST', headers: { Authorization: `Bearer ${info.token}` } });
    const body = (await res.json().catch(() => ({}))) as { result?: { pageUrl?: string }; error?: string };
    if (!res.ok || !body.result?.pageUrl) throw new Error(body.error ?? `the broker refused a new token (HTTP ${res.status})`);
    pageUrl = body.result.pageUrl;
  }
  out(`${pageUrl}\n`);
  if (!values['no-browser']) openSystemBrowser(pageUrl);
}

async function run(command: string, args: string[], out: (s: string) => void): Promise<void> {
  if (command === 'open') return open(args, out);
  if ((APPROVAL_COMMANDS as readonly string[]).includes(command)) return approvalCommand(command, args, connectToBroker(), out);
  const { values, positionals } = parseArgs({
    args,
    options: {
      follow: { type: 'boolean', short: 'f', default: false },
      service: { type: 'string' },
      outcome: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean', default: false },
      'remove-keychain-items': { type: 'boolean', default: false },
      'audit-log': { type: 'string' },
    },
    allowPositionals: true,
  });
  const needsName = command === 'start' || command === 'stop' || command === 'test' || command === 'delete';
  if (needsName && positionals.length !== 1) throw new Usage(`usage: secretless-desktop ${command} NAME`);
  if (!needsName && positionals.length > 0) throw new Usage(`unexpected argument '${positionals[0]}'`);
  // audit --follow ends when the broker goes away (a restarted one has a new token), and
  // reads its backlog only once the event stream is up, so no record falls in between.
  let brokerGone = () => {};
  let streamUp = () => {};
  const connected = new Promise<void>((resolve) => (streamUp = resolve));
  let api: BrokerApi;
  try {
    api = connectToBroker(undefined, (state) => (state === 'connected' ? streamUp() : brokerGone()));
  } catch (err) {
    // The audit log is a file: reading it needs no broker (following it does).
    if (command === 'audit' && !values.follow && err instanceof NoBroker) return auditFromFile(values, out);
    throw err;
  }
  switch (command) {
    case 'status': {
      const [targets, sessions] = await Promise.all([api.listTargets(), api.listSessions()]);
      out(values.json ? JSON.stringify({ targets, sessions }, null, 2) + '\n' : formatStatus(targets, sessions, new Date()));
      return;
    }
    case 'start':
    case 'stop': {
      const t = command === 'start' ? await api.startTarget(positionals[0]!) : await api.stopTarget(positionals[0]!);
      out(`${t.name}: ${stateText(t)}${t.status.state === 'listening' ? ` on ${t.status.address}` : ''}\n`);
      if (t.status.state === 'error') process.exitCode = 1;
      return;
    }
    case 'test': {
      // The real login to the target, through the same connector code a client uses.
      const r = await api.testTarget(positionals[0]!);
      if (values.json) out(JSON.stringify(r, null, 2) + '\n');
      else out(r.type === 'ok' ? `${positionals[0]}: ok, logged in to ${r.target} in ${r.latencyMs} ms\n` : `${positionals[0]}: failed (${r.code}): ${r.reason}\n`);
      if (r.type === 'failed') process.exitCode = 1;
      return;
    }
    case 'delete': {
      const r = await api.deleteTarget(positionals[0]!, { removeKeychainItems: values['remove-keychain-items'] === true });
      out(`${r.name}: deleted from the config\n`);
      for (const id of r.removedKeychainItems) out(`  keychain item ${id}: deleted\n`);
      for (const k of r.keptKeychainItems) out(`  keychain item ${k.id}: kept, ${k.usedBy.join(', ')} still use${k.usedBy.length === 1 ? 's' : ''} it\n`);
      return;
    }
    case 'audit':
      if (values.service !== undefined) {
        const names = (await api.listTargets()).map((t) => t.name);
        if (!names.includes(values.service)) throw new Usage(`--service: no target named '${values.service}'${didYouMean(values.service, names)}`);
      }
      return audit(api, values, out, (fn) => (brokerGone = fn), connected);
  }
}

type AuditValues = { follow?: boolean; service?: string; outcome?: string; limit?: string; json?: boolean; 'audit-log'?: string };

function auditQueryOf(values: AuditValues): AuditQuery {
  const query: AuditQuery = {};
  if (values.service) query.service = values.service;
  if (values.outcome !== undefined) {
    if (values.outcome !== 'ok' && values.outcome !== 'failed') throw new Usage("--outcome must be 'ok' or 'failed'");
    query.outcome = values.outcome;
  }
  if (values.limit !== undefined) {
    if (!/^\d+$/.test(values.limit) || Number(values.limit) < 1) throw new Usage('--limit must be a positive number');
    query.limit = Number(values.limit);
  }
  return query;
}

const auditMatcher = (query: AuditQuery) => (r: AuditRecord) =>
  (!query.service || ('service' in r && r.service === query.service)) && (!query.outcome || (query.outcome === 'failed') === /\.(failed|refused|rejected)$/.test(r.type));

/** `audit` with no broker running: the newest matching records of the audit log file, oldest first. */
async function auditFromFile(values: AuditValues, out: (s: string) => void): Promise<void> {
  const query = auditQueryOf(values);
  const path = values['audit-log'] ?? join(userStateDir(), 'audit.jsonl');
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new Error(err.code === 'ENOENT' ? `no running broker, and no audit log at ${path} (--audit-log PATH reads another)` : `cannot read the audit log ${path}: ${err.message}`);
  });
  const records: AuditRecord[] = [];
  for (const line of text.split('\n')) {
    try {
      if (line.trim()) records.push(JSON.parse(line) as AuditRecord);
    } catch {
      // A line cut short by a crash: skip it.
    }
  }
  if (query.service !== undefined) {
    const seen = [...new Set(records.flatMap((r) => ('service' in r ? [r.service] : [])))];
    if (!seen.includes(query.service)) throw new Usage(`--service: no records of a target named '${query.service}' in ${path}${didYouMean(query.service, seen)}`);
  }
  const shown = records.filter(auditMatcher(query)).slice(-(query.limit ?? 200));
  for (const r of shown) out((values.json ? JSON.stringify(r) : formatAuditRecord(r)) + '\n');
}

async function audit(
  api: BrokerApi,
  values: AuditValues,
  out: (s: string) => void,
  onBrokerGone: (fn: () => void) => void,
  streamConnected: Promise<void>,
): Promise<void> {
  const query = auditQueryOf(values);
  const line = (r: AuditRecord) => (values.json ? JSON.stringify(r) : formatAuditRecord(r)) + '\n';
  const matches = auditMatcher(query);
  // Following: subscribe before reading the backlog so nothing falls in between; records
  // that arrive meanwhile are held back, then printed unless the backlog had them.
  let buffered: AuditRecord[] | undefined = [];
  let stop = () => {};
  const ended = new Promise<void>((resolve) => (stop = resolve));
  const off = values.follow
    ? api.subscribe((e) => {
        if (e.type !== 'audit' || !matches(e.record)) return;
        if (buffered) buffered.push(e.record);
        else out(line(e.record));
      })
    : undefined;
  if (off) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the broker did not open its event stream')), 10_000);
    });
    await Promise.race([streamConnected, timeout]).finally(() => clearTimeout(timer)).catch((err: unknown) => {
      off();
      throw err;
    });
  }
  const backlog = await api.recentAudit(query).catch((err: unknown) => {
    off?.();
    throw err;
  });
  for (const r of [...backlog].reverse()) out(line(r));
  if (!off) return;
  const seen = new Set(backlog.map((r) => JSON.stringify(r)));
  for (const r of buffered) if (!seen.has(JSON.stringify(r))) out(line(r));
  buffered = undefined;
  let gone = false;
  onBrokerGone(() => {
    gone = true;
    stop();
  });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await ended;
  off();
  if (gone) throw new Error('the broker stopped');
}

function stateText(t: TargetInfo): string {
  switch (t.status.state) {
    case 'stopped':
      return 'stopped';
    case 'error':
      return `error: ${t.status.reason}`;
    case 'listening':
      return t.connections > 0 ? `${t.connections} connection${t.connections === 1 ? '' : 's'}` : 'listening';
  }
}

export function formatRemaining(iso: string | undefined, now: Date): string {
  if (!iso) return '-';
  const ms = Date.parse(iso) - now.getTime();
  if (ms <= 0) return 'expired';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `in ${s}s`;
  if (s < 3600) return `in ${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `in ${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `in ${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function formatStatus(targets: TargetInfo[], sessions: IdentitySessionInfo[], now: Date): string {
  if (targets.length === 0 && sessions.length === 0) return 'no targets configured\n';
  const rows = [['NAME', 'PROTOCOL', 'STATE', 'HEALTH', 'ADDRESS', 'CREDENTIAL EXPIRES']];
  for (const t of targets) {
    rows.push([t.name, t.connector, stateText(t), t.health.type, t.status.state === 'listening' ? t.status.address : t.listenOn, formatRemaining(t.credentialExpiresAt, now)]);
  }
  let text = table(rows);
  // Why a target is unhealthy, in the words its clients were given.
  const failing = targets.filter((t) => isUnhealthy(t.health));
  if (failing.length > 0) text += '\n' + failing.map((t) => `${t.name}: ${healthText(t.health, now.getTime())}`).join('\n') + '\n';
  const pinned = targets.filter((t) => t.hostKeyFingerprint);
  if (pinned.length > 0) {
    text += '\n' + pinned.map((t) => `${t.name}: broker host key ${t.hostKeyFingerprint} (pin it in known_hosts)`).join('\n') + '\n';
  }
  if (sessions.length > 0) {
    const srows = [['IDENTITY', 'TYPE', 'ISSUER', 'STATE', 'EXPIRES']];
    for (const s of sessions) srows.push([s.name, s.type ?? 'oidc', s.issuer, s.reason ? `${s.state} (${s.reason})` : s.state, formatRemaining(s.expiresAt, now)]);
    text += '\n' + table(srows);
    // Workload identities: who the platform says we are, and for whom the token is.
    const claims = sessions.filter((s) => s.subject || s.audience);
    if (claims.length > 0) text += '\n' + claims.map((s) => `${s.name}: subject ${s.subject ?? '(no usable token)'}, audience ${s.audience ?? '-'}`).join('\n') + '\n';
  }
  return text;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export function formatAuditRecord(r: AuditRecord): string {
  const { time, type, ...rest } = r as AuditRecord & Record<string, unknown>;
  const who = 'service' in rest ? String(rest.service) : 'identity' in rest ? String(rest.identity) : '';
  delete rest.service;
  const details = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
  return `${time}  ${type.padEnd(24)}  ${who}${details ? '  ' + details : ''}`;
}
