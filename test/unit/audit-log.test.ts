import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAuditLog } from '../../broker/audit/audit-log.js';
import { createMemoryAudit } from '../../broker/audit/memory-audit.js';
import { createFloodGuard } from '../../broker/audit/flood-guard.js';
import type { AuditEvent, AuditRecord } from '../../broker/audit/types.js';
import type { BrokerErrorCode } from '../../broker/errors.js';
import { waitFor } from '../fixtures/wait-for.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sl-audit-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let counter = 0;
const logPath = (): string => path.join(tmp, `case${++counter}`, 'audit.jsonl');
const fixedNow = (): Date => new Date('2024-05-06T07:08:09.010Z');
const stopped = (n: number): AuditEvent => ({ type: 'service.stopped', service: `svc-${n}` });

function readLines(file: string): AuditRecord[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditRecord);
}

test('records are appended as JSONL with a time, file 0600 in a 0700 dir', async () => {
  const p = logPath();
  const log = createAuditLog({ path: p, now: fixedNow });
  assert.equal(log.path, p);
  log.record({ type: 'config.loaded', source: '/etc/secretless.yml', services: 2 });
  log.record({ type: 'connection.opened', service: 'pg', connectionId: 'c1', client: { transport: 'tcp', address: '127.0.0.1', port: 5000 } });
  await log.flush();
  const text = fs.readFileSync(p, 'utf8');
  assert.ok(text.endsWith('\n'));
  assert.deepEqual(readLines(p), [
    { time: '2024-05-06T07:08:09.010Z', type: 'config.loaded', source: '/etc/secretless.yml', services: 2 },
    {
      time: '2024-05-06T07:08:09.010Z',
      type: 'connection.opened',
      service: 'pg',
      connectionId: 'c1',
      client: { transport: 'tcp', address: '127.0.0.1', port: 5000 },
    },
  ]);
  assert.ok(text.startsWith('{"time":'), 'time comes first');
  assert.equal(fs.statSync(p).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.dirname(p)).mode & 0o777, 0o700);
  await log.close();
});

test('an existing file is appended to, not truncated', async () => {
  const p = logPath();
  const first = createAuditLog({ path: p, now: fixedNow });
  first.record(stopped(1));
  await first.close();
  const second = createAuditLog({ path: p, now: fixedNow });
  second.record(stopped(2));
  await second.close();
  assert.deepEqual(
    readLines(p).map((r) => (r as { service: string }).service),
    ['svc-1', 'svc-2'],
  );
});

test('rotation at maxBytes keeps `keep` files, newest in .1, nothing lost in between', async () => {
  const p = logPath();
  const lineBytes = Buffer.byteLength(JSON.stringify({ time: fixedNow().toISOString(), ...stopped(10) }) + '\n');
  const maxBytes = lineBytes * 3; // three records per file
  // retainMs 0: the note that young records were rotated away has its own test.
  const log = createAuditLog({ path: p, now: fixedNow, maxBytes, keep: 2, retainMs: 0 });
  // Records 10..29 (same line length); some flushed one by one, most in one batch.
  for (let n = 10; n < 13; n++) {
    log.record(stopped(n));
    await log.flush();
  }
  for (let n = 13; n < 30; n++) log.record(stopped(n));
  await log.close();

  const names = fs.readdirSync(path.dirname(p)).sort();
  assert.deepEqual(names, ['audit.jsonl', 'audit.jsonl.1', 'audit.jsonl.2']);
  for (const name of names) assert.ok(fs.statSync(path.join(path.dirname(p), name)).size <= maxBytes, name);
  const ids = [`${p}.2`, `${p}.1`, p].flatMap((f) => readLines(f).map((r) => (r as { service: string }).service));
  // 20 records, 3 per file: [10,11,12] ... [25,26,27] [28,29]; .1 and .2 are the two before.
  assert.deepEqual(ids, [22, 23, 24, 25, 26, 27, 28, 29].map((n) => `svc-${n}`));
  assert.equal(fs.statSync(`${p}.1`).mode & 0o777, 0o600);
});

test('a record larger than maxBytes still gets written, alone', async () => {
  const p = logPath();
  const log = createAuditLog({ path: p, now: fixedNow, maxBytes: 10, keep: 1 });
  log.record(stopped(1));
  log.record(stopped(2));
  await log.close();
  assert.deepEqual(readLines(p).map((r) => (r as { service: string }).service), ['svc-2']);
  assert.deepEqual(readLines(`${p}.1`).map((r) => (r as { service: string }).service), ['svc-1']);
});

test('subscribe gets live records until unsubscribed', async () => {
  const log = createAuditLog({ path: logPath(), now: fixedNow });
  const got: AuditRecord[] = [];
  log.record(stopped(0)); // before subscribing: not delivered
  const off = log.subscribe((r) => got.push(r));
  log.subscribe(() => {
    throw new Error('a broken subscriber');
  });
  log.record(stopped(1));
  assert.deepEqual(got, [{ time: fixedNow().toISOString(), ...stopped(1) }]);
  off();
  log.record(stopped(2));
  assert.equal(got.length, 1);
  await log.close();
});

test('recent() is oldest first, limited, and capped as a ring', async () => {
  const log = createAuditLog({ path: logPath(), now: fixedNow, recentLimit: 5 });
  assert.deepEqual(log.recent(), []);
  for (let n = 1; n <= 8; n++) log.record(stopped(n));
  const services = (rs: AuditRecord[]): string[] => rs.map((r) => (r as { service: string }).service);
  assert.deepEqual(services(log.recent()), ['svc-4', 'svc-5', 'svc-6', 'svc-7', 'svc-8']);
  assert.deepEqual(services(log.recent(2)), ['svc-7', 'svc-8']);
  assert.deepEqual(log.recent(0), []);
  await log.close();
  const big = createAuditLog({ path: logPath(), now: fixedNow });
  for (let n = 0; n < 1100; n++) big.record(stopped(n));
  assert.equal(big.recent().length, 1000);
  assert.equal((big.recent(1)[0] as { service: string }).service, 'svc-1099');
  await big.close();
});

test('flush resolves once everything recorded so far is on disk', async () => {
  const p = logPath();
  const log = createAuditLog({ path: p, now: fixedNow });
  await log.flush(); // nothing recorded: resolves at once, creates nothing
  assert.equal(fs.existsSync(p), false);
  for (let n = 0; n < 500; n++) log.record(stopped(n));
  const flushed = log.flush();
  log.record(stopped(500)); // recorded after the flush call
  await flushed;
  assert.ok(readLines(p).length >= 500);
  await log.flush();
  assert.equal(readLines(p).length, 501);
  await log.close();
});

test('I/O errors never throw into record() and are reported once', async () => {
  const blocker = path.join(tmp, 'not-a-dir');
  fs.writeFileSync(blocker, '');
  const errors: Error[] = [];
  const log = createAuditLog({ path: path.join(blocker, 'audit.jsonl'), onError: (e) => errors.push(e) });
  const live: AuditRecord[] = [];
  log.subscribe((r) => live.push(r));
  for (let n = 0; n < 3; n++) {
    log.record(stopped(n));
    await log.flush();
  }
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /ENOTDIR|EEXIST/);
  assert.equal(live.length, 3, 'the live feed keeps working');
  await log.close();
});

test('memory audit keeps records and feeds subscribers', async () => {
  const audit = createMemoryAudit({ now: fixedNow });
  const got: AuditRecord[] = [];
  audit.subscribe((r) => got.push(r));
  audit.record(stopped(1));
  audit.record({ type: 'service.started', service: 'pg', address: 'tcp://127.0.0.1:5432' });
  await audit.flush();
  assert.deepEqual(audit.records, got);
  assert.deepEqual(audit.recent(1), [{ time: fixedNow().toISOString(), type: 'service.started', service: 'pg', address: 'tcp://127.0.0.1:5432' }]);
  audit.clear();
  assert.deepEqual(audit.records, []);
  await audit.close();
});

test('without flush(), records reach the file shortly after (coalesced), in order, written together', async () => {
  const p = logPath();
  const log = createAuditLog({ path: p, now: fixedNow, coalesceMs: 50 });
  const writes: number[] = [];
  const watcher = setInterval(() => {
    if (fs.existsSync(p)) writes.push(readLines(p).length);
  }, 5);
  for (let i = 0; i < 5; i++) log.record(stopped(i));
  try {
    await waitFor('five records in the file', () => fs.existsSync(p) && readLines(p).length >= 5);
    assert.deepEqual(readLines(p).map((r) => (r as { service?: string }).service), ['svc-0', 'svc-1', 'svc-2', 'svc-3', 'svc-4']);
    // The five records recorded in one tick land in one write: the file never held a partial batch.
    assert.ok(writes.every((n) => n === 0 || n === 5), `line counts seen: ${[...new Set(writes)]}`);
  } finally {
    clearInterval(watcher);
    await log.close();
  }
});

test('a held opened record is written once its hold is over, each at its own time, and never twice', async () => {
  const written: { event: AuditEvent; at: number }[] = [];
  const t0 = performance.now();
  const guard = createFloodGuard({ record: (event) => void written.push({ event, at: performance.now() - t0 }) }, { holdMs: 60 });
  const opened = (connectionId: string): AuditEvent => ({ type: 'connection.opened', service: 'db', connectionId, client: { transport: 'tcp', address: '127.0.0.1' } });
  guard.record(opened('a'));
  guard.record(opened('b')); // logs in before its hold is over: written then, once
  await new Promise((r) => setTimeout(r, 30));
  guard.record(opened('c')); // held 60 ms from here, not from the first one's timer
  guard.record({ type: 'connection.authenticated', service: 'db', connectionId: 'b', target: 'db:3306', tls: false, authMethod: 'mysql_native_password' });
  await waitFor('the held records', () => written.filter((w) => w.event.type === 'connection.opened').length === 3, 2_000);
  const at = (id: string) => written.find((w) => w.event.type === 'connection.opened' && w.event.connectionId === id)!.at;
  assert.ok(at('a') >= 59 && at('c') >= 89 && at('b') < 59, JSON.stringify(written.map((w) => [w.event.type, 'connectionId' in w.event ? w.event.connectionId : '', Math.round(w.at)])));
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(written.filter((w) => w.event.type === 'connection.opened').length, 3);
});

test('a flood of connections that never log in is aggregated per source; every real login stays, in full', async () => {
  const p = logPath();
  let clock = Date.parse('2024-05-06T07:00:00Z');
  const log = createAuditLog({ path: p, now: () => new Date(clock), maxBytes: 64 * 1024, keep: 2 });
  const local = { transport: 'tcp' as const, address: '127.0.0.1' };
  let id = 0;
  const junk = (code: BrokerErrorCode) => {
    const connectionId = `j${++id}`;
    log.record({ type: 'connection.opened', service: 'db', connectionId, client: { ...local, port: 40000 + (id % 20000) } });
    log.record({ type: 'connection.failed', service: 'db', connectionId, code, reason: 'invalid length of startup packet (1476395008 bytes, at most 10000)' });
    log.record({ type: 'connection.closed', service: 'db', connectionId, bytesFromClient: 8, bytesToClient: 0, durationMs: 1 });
  };
  const login = (n: number) => {
    const connectionId = `real${n}`;
    log.record({ type: 'connection.opened', service: 'db', connectionId, client: { ...local, port: 30000 + n } });
    log.record({ type: 'connection.authenticated', service: 'db', connectionId, target: 'db:5432', tls: true, authMethod: 'scram-sha-256' });
    log.record({ type: 'connection.closed', service: 'db', connectionId, bytesFromClient: 100, bytesToClient: 400, durationMs: 30 });
  };
  // 100,000 junk connections over 40 s (the flood that once rotated every login away), with 10 logins among them.
  for (let i = 0; i < 100_000; i++) {
    junk(i % 3 ? 'protocol_violation' : 'timeout');
    if (i % 10_000 === 5_000) login(Math.floor(i / 10_000));
    if (i % 2_500 === 0) clock += 1_000;
  }
  await log.close();
  const records = [p, `${p}.1`, `${p}.2`].filter((f) => fs.existsSync(f)).flatMap(readLines);
  assert.equal(fs.existsSync(`${p}.1`), false, 'nothing rotated: the flood fits in one file');
  for (let n = 0; n < 10; n++)
    for (const type of ['connection.opened', 'connection.authenticated', 'connection.closed'])
      assert.ok(records.some((r) => r.type === type && 'connectionId' in r && r.connectionId === `real${n}`), `${type} of login ${n}`);
  const repeated = records.filter((r): r is Extract<AuditRecord, { type: 'connection.failed.repeated' }> => r.type === 'connection.failed.repeated');
  const inFull = records.filter((r) => r.type === 'connection.failed').length;
  assert.equal(repeated.reduce((n, r) => n + r.count, 0) + inFull, 100_000, 'every junk connection is counted');
  assert.ok(records.length < 1_000, `${records.length} records`);
  console.log(`audit flood: 100000 junk connections and 10 logins -> ${records.length} records, ${fs.statSync(p).size} bytes`);
  assert.deepEqual(repeated[0]!.client, local);
  assert.deepEqual(Object.keys(repeated[0]!.codes).sort(), ['protocol_violation', 'timeout']);
  assert.match(repeated[0]!.reason, /invalid length/);
});

test('rotation that drops records younger than the retention floor says so, in the warning and in the new file', async () => {
  const p = logPath();
  const warnings: string[] = [];
  const log = createAuditLog({ path: p, maxBytes: 300, keep: 1, floodGuard: false, onWarning: (m) => warnings.push(m) });
  for (let i = 0; i < 12; i++) log.record(stopped(i));
  await log.close();
  assert.ok(warnings.some((w) => /rotation dropped records younger than the retention floor/.test(w)), warnings.join('\n'));
  const lines = [...readLines(`${p}.1`), ...readLines(p)];
  const note = lines.find((r) => (r.type as string) === 'audit.rotated') as Record<string, unknown> | undefined;
  assert.ok(note, 'an audit.rotated record');
  assert.equal(note.retainMs, 24 * 3600_000);
  assert.ok(Number(note.newestRecordAgeMs) < 60_000);
});
