// The approval logic without servers: who is asked when, one prompt per program, grants
// keyed on pid and start time (a reused pid is asked again), executable grants, the
// timeout, a program that leaves, lock and its defaults, /proc/PID/stat parsing, and the
// CLI's durations. The end-to-end flows with real clients are in
// test/integration/approvals.test.ts.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { createApprovals, type ApprovalEvent, type ApprovalRequest } from '../../broker/access/approvals.js';
import { autoLocks } from '../../broker/access/lock.js';
import { parseProcStat, type ProcessInfo } from '../../broker/access/process-info.js';
import { createMemoryAudit } from '../../broker/audit/memory-audit.js';
import type { BrokerConfig, ServiceConfig } from '../../broker/config/types.js';
import { BrokerError } from '../../broker/errors.js';
import { createLogger } from '../../broker/log.js';
import { parseGrantDuration } from '../../broker/control/approval-commands.js';

const svc = (name: string, approval?: 'ask' | 'never'): ServiceConfig => ({
  name,
  connector: 'pg',
  listenOn: { type: 'tcp', host: '127.0.0.1', port: 5432 },
  allowRemote: false,
  ...(approval ? { approval } : {}),
  credentials: {},
  config: {},
  line: 1,
});

function setup(config: BrokerConfig = { version: '2', services: [svc('db', 'ask'), svc('open')] }) {
  const audit = createMemoryAudit();
  // pid -> process: tests change a pid's start time to play pid reuse.
  const processes = new Map<number, ProcessInfo>([
    [100, { pid: 100, exe: '/usr/bin/psql', startTime: '5000', cmdline: ['psql', '-c', 'select 1'] }],
    [200, { pid: 200, exe: '/usr/bin/psql', startTime: '6000' }],
    [300, { pid: 300, exe: '/usr/bin/mysql', startTime: '7000' }],
  ]);
  const approvals = createApprovals({ audit, logger: createLogger({ level: 'error', write: () => {} }), config: () => config, describe: async (pid) => processes.get(pid) ?? { pid } });
  const events: ApprovalEvent[] = [];
  approvals.subscribe((e) => events.push(e));
  let n = 0;
  const ask = (pid: number | undefined, service = config.services[0]!, signal = new AbortController().signal): Promise<void> => {
    const req: ApprovalRequest = { socket: {} as Socket, client: { transport: 'tcp', ...(pid !== undefined ? { pid } : {}) }, service, connectionId: `c${++n}`, signal };
    return approvals.check(req);
  };
  const prompts = () => events.filter((e): e is Extract<ApprovalEvent, { type: 'approval.requested' }> => e.type === 'approval.requested').map((e) => e.approval);
  const settled = async (p: Promise<void>): Promise<'allowed' | string> => p.then(() => 'allowed', (e: BrokerError) => e.code);
  return { approvals, audit, processes, ask, prompts, settled, events };
}

const tick = () => new Promise((r) => setImmediate(r));

test('a service that does not ask lets connections through at once; one that asks waits for the answer', async () => {
  const t = setup();
  await t.ask(100, svc('open'));
  assert.equal(t.prompts().length, 0);
  const waiting = t.settled(t.ask(100));
  await tick();
  assert.equal(t.prompts().length, 1);
  assert.equal(t.prompts()[0]!.process.exe, '/usr/bin/psql');
  assert.deepEqual(t.prompts()[0]!.process.cmdline, ['psql', '-c', 'select 1']);
  assert.ok(t.approvals.answer(t.prompts()[0]!.id, { type: 'allow-once' }, 'ui'));
  assert.equal(await waiting, 'allowed');
  // Once: the next connection asks again.
  const again = t.settled(t.ask(100));
  await tick();
  assert.equal(t.prompts().length, 2);
  t.approvals.answer(t.prompts()[1]!.id, { type: 'deny' }, 'cli');
  assert.equal(await again, 'not_approved');
});

test('one prompt per program: its other connections wait on it and get the same answer', async () => {
  const t = setup();
  const a = t.settled(t.ask(100));
  const b = t.settled(t.ask(100));
  const other = t.settled(t.ask(200));
  await tick();
  assert.equal(t.prompts().length, 2);
  const mine = t.prompts().find((p) => p.process.pid === 100)!;
  assert.equal(t.approvals.list().find((p) => p.id === mine.id)!.waiting, 2);
  t.approvals.answer(mine.id, { type: 'deny' }, 'ui');
  assert.deepEqual(await Promise.all([a, b]), ['not_approved', 'not_approved']);
  t.approvals.answer(t.prompts().find((p) => p.process.pid === 200)!.id, { type: 'allow-once' }, 'ui');
  assert.equal(await other, 'allowed');
  const answered = t.audit.records.filter((r) => r.type === 'approval.answered');
  assert.deepEqual(answered.map((r) => r.type === 'approval.answered' && [r.answer, r.by, r.connections]), [['deny', 'ui', 2], ['allow-once', 'ui', 1]]);
});

test('allow until exit is keyed on pid and start time: the same process goes through, a process reusing the pid is asked', async () => {
  const t = setup();
  const first = t.settled(t.ask(100));
  await tick();
  t.approvals.answer(t.prompts()[0]!.id, { type: 'allow-process' }, 'cli');
  assert.equal(await first, 'allowed');
  await t.ask(100);
  assert.equal(t.prompts().length, 1, 'the same process is not asked again');
  assert.equal(t.audit.records.filter((r) => r.type === 'approval.reused').length, 1);
  // psql exited, and a new process got pid 100.
  t.processes.set(100, { pid: 100, exe: '/usr/bin/psql', startTime: '9999' });
  const reused = t.settled(t.ask(100));
  await tick();
  assert.equal(t.prompts().length, 2);
  t.approvals.answer(t.prompts()[1]!.id, { type: 'deny' }, 'ui');
  assert.equal(await reused, 'not_approved');
});

test('allow an executable for a while covers its other processes (also one waiting on its own prompt), not other executables', async () => {
  const t = setup();
  const a = t.settled(t.ask(100));
  const b = t.settled(t.ask(200));
  await tick();
  t.approvals.answer(t.prompts().find((p) => p.process.pid === 100)!.id, { type: 'allow-executable', forMs: 3_600_000 }, 'ui');
  assert.deepEqual(await Promise.all([a, b]), ['allowed', 'allowed']);
  assert.equal(t.approvals.list().length, 0);
  const mysql = t.settled(t.ask(300));
  await tick();
  assert.equal(t.approvals.list().length, 1);
  assert.throws(() => t.approvals.answer(t.approvals.list()[0]!.id, { type: 'allow-executable', forMs: 30 * 86_400_000 }, 'ui'), /at most/);
  t.approvals.answer(t.approvals.list()[0]!.id, { type: 'deny' }, 'ui');
  assert.equal(await mysql, 'not_approved');
});

test('an unknown program (no pid) can be allowed once or denied only', async () => {
  const t = setup();
  const p = t.settled(t.ask(undefined));
  await tick();
  const prompt = t.approvals.list()[0]!;
  assert.equal(prompt.processKnown, false);
  assert.throws(() => t.approvals.answer(prompt.id, { type: 'allow-process' }, 'ui'), /only allow-once or deny/);
  t.approvals.answer(prompt.id, { type: 'allow-once' }, 'ui');
  assert.equal(await p, 'allowed');
});

test('no answer within approvalTimeoutMs is a deny by timeout; a program that leaves withdraws its prompt', async () => {
  const t = setup({ version: '2', services: [svc('db', 'ask')], settings: { approval: 'never', approvalTimeoutMs: 20, lockOnScreenLock: undefined, lockOnSleep: undefined, lockAfterIdleMs: undefined } });
  // The broker's timers are unref'd (they never hold a broker open): this keeps the test's loop alive.
  const keepAlive = setInterval(() => {}, 1_000);
  const err = await t.ask(100).catch((e: BrokerError) => e).finally(() => clearInterval(keepAlive));
  assert.ok(err instanceof BrokerError && err.code === 'not_approved');
  assert.match(err.message, /did not allow this program \(\/usr\/bin\/psql, pid 100\) to use service 'db' \(approval: ask\): nobody answered within 0 s/);
  const gone = new AbortController();
  const left = t.settled(t.ask(200, undefined, gone.signal));
  await tick();
  gone.abort();
  assert.notEqual(await left, 'allowed');
  const answers = t.audit.records.flatMap((r) => (r.type === 'approval.answered' ? [[r.answer, r.by]] : []));
  assert.deepEqual(answers, [['timeout', 'timeout'], ['withdrawn', 'client-gone']]);
  assert.equal(t.approvals.list().length, 0);
});

test('lock revokes every grant and makes every service ask, approval: never too; unlock ends that, the grants stay revoked', async () => {
  const t = setup();
  const first = t.settled(t.ask(100));
  await tick();
  t.approvals.answer(t.prompts()[0]!.id, { type: 'allow-process' }, 'ui');
  await first;
  assert.deepEqual(t.approvals.lock('cli'), { locked: true, since: t.approvals.state().since, reason: 'cli' });
  const never = t.settled(t.ask(100, svc('open')));
  await tick();
  assert.equal(t.approvals.list()[0]!.locked, true);
  t.approvals.answer(t.approvals.list()[0]!.id, { type: 'allow-once' }, 'ui');
  assert.equal(await never, 'allowed');
  t.approvals.unlock('cli');
  await t.ask(100, svc('open'));
  const revoked = t.settled(t.ask(100));
  await tick();
  assert.equal(t.approvals.list().length, 1, 'the grant the lock revoked is gone');
  t.approvals.answer(t.approvals.list()[0]!.id, { type: 'deny' }, 'ui');
  await revoked;
  const locked = t.audit.records.find((r) => r.type === 'access.locked');
  assert.ok(locked?.type === 'access.locked' && locked.grantsRevoked === 1 && locked.by === 'cli');
  assert.deepEqual(t.events.filter((e) => e.type === 'lock.changed').map((e) => e.type === 'lock.changed' && e.lock.locked), [true, false]);
});

test('auto-lock on screen lock and sleep defaults to on only when some service asks; the settings override', () => {
  const base = { version: '2' as const };
  assert.equal(autoLocks('screen-lock', { ...base, services: [svc('a')] }), false);
  assert.equal(autoLocks('screen-lock', { ...base, services: [svc('a', 'ask')] }), true);
  const settings = { approval: 'ask' as const, approvalTimeoutMs: 60_000, lockOnScreenLock: false, lockOnSleep: undefined, lockAfterIdleMs: undefined };
  assert.equal(autoLocks('screen-lock', { ...base, services: [svc('a')], settings }), false);
  assert.equal(autoLocks('sleep', { ...base, services: [svc('a')], settings }), true, 'settings.approval: ask makes a service ask');
});

test('/proc/PID/stat: the name may hold spaces and parentheses; ppid, session and start time are found after it', () => {
  const line = '4242 (tmux: server (x)) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0';
  assert.deepEqual(parseProcStat(line), { name: 'tmux: server (x)', ppid: 1, session: 4242, startTime: '123456' });
  assert.equal(parseProcStat('garbage'), undefined);
});

test('approve --for durations', () => {
  assert.equal(parseGrantDuration('4h'), 4 * 3_600_000);
  assert.equal(parseGrantDuration('30m'), 30 * 60_000);
  assert.equal(parseGrantDuration('2d'), 2 * 86_400_000);
  assert.equal(parseGrantDuration('1.5'), 5_400_000);
  assert.throws(() => parseGrantDuration('soon'), /not a duration/);
  assert.throws(() => parseGrantDuration('0h'), /not a duration/);
});

test('lockAfterIdleMs: with no connection for that long the broker locks by itself, audited as by idle', async () => {
  const t = setup({ version: '2', services: [svc('open')], settings: { approval: 'never', approvalTimeoutMs: 60_000, lockOnScreenLock: undefined, lockOnSleep: undefined, lockAfterIdleMs: 25 } });
  const locked = new Promise<void>((resolve) => t.approvals.subscribe((e) => e.type === 'lock.changed' && e.lock.locked && resolve()));
  await t.ask(100, svc('open')); // a connection: the idle time starts over
  t.approvals.configChanged();
  const keepAlive = setInterval(() => {}, 1_000); // the idle timer is unref'd
  await locked.finally(() => clearInterval(keepAlive));
  assert.equal(t.approvals.state().reason, 'idle');
  assert.ok(t.audit.records.some((r) => r.type === 'access.locked' && r.by === 'idle'));
  t.approvals.close();
});
