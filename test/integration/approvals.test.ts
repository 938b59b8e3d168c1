// Consent prompts end to end with a real `serve --ui`, PostgreSQL, psql, OpenSSH and the
// CLI: psql waits while the broker asks, the prompt names psql's executable and pid;
// approve lets it log in, deny and the timeout give psql the broker's message; "until
// exit" covers every \connect of one psql and no other psql; lock makes everything ask
// again, also a service with approval: never; the ssh-agent asks per key before ssh
// signs. Every answer is in the audit with who gave it. No output carries the password.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ApprovalPrompt, BrokerApi, BrokerEvent } from '../../broker/api.js';
import type { AuditRecord } from '../../broker/audit/types.js';
import { createHttpBrokerApi } from '../../broker/control/http-client.js';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { clientEnv, run, startClient, type RunResult } from '../fixtures/run.js';
import { serviceYaml, type ServiceYaml } from '../fixtures/yaml.js';
import { CLI, startServe, type ServeProcess } from '../fixtures/serve.js';
import { fingerprintOfFile, makeKey, sshOptions, startSshd, type KeyFiles, type Sshd } from '../fixtures/sshd.js';
import { waitFor } from '../fixtures/wait-for.js';

let cluster: PgCluster;
let sshd: Sshd;
let key: KeyFiles;
let dir: string;
let configPath: string;
let serve: ServeProcess;
let api: BrokerApi;
const events: BrokerEvent[] = [];
let unsubscribe = (): void => {};
const outputs: string[] = [];
const children = new Set<ChildProcess>();

const env = () => ({ ...clientEnv(), XDG_STATE_HOME: join(dir, 'state'), XDG_CONFIG_HOME: join(dir, 'config'), APP_DB_PW: cluster.users.scram.password });
// No connect_timeout: libpq's covers the whole login, approval included (the README says so).
const psqlEnv = () => clientEnv({ PGCONNECT_TIMEOUT: '0', PGSSLMODE: 'prefer' });
const agentSock = () => join(dir, 'agent.sock');

function config(timeoutMs: number): string {
  const pg = (approval?: 'ask'): ServiceYaml => ({
    connector: 'pg',
    approval,
    credentials: { host: '127.0.0.1', port: cluster.port, username: cluster.users.scram.name, password: { from: 'env', get: 'APP_DB_PW' }, sslmode: 'disable' },
  });
  return [
    `version: "2"\nsettings:\n  approvalTimeoutMs: ${timeoutMs}\nservices:\n`,
    serviceYaml('db', pg('ask')),
    serviceYaml('open-db', pg()),
    serviceYaml('agent', { connector: 'ssh-agent', listenOn: `unix://${agentSock()}`, approval: 'ask', credentials: { deploy: { from: 'file', get: key.path } } }),
  ].join('');
}

before(async () => {
  [cluster, sshd] = await Promise.all([startPgCluster(), startSshd()]);
  dir = mkdtempSync(join(tmpdir(), 'sd-approvals-'));
  key = makeKey(dir, 'deploy', 'ed25519');
  sshd.authorize(key.publicLine);
  writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${sshd.port} ${sshd.hostKeyLine}\n`);
  configPath = join(dir, 'secretless.yml');
  writeFileSync(configPath, config(60_000));
  serve = startServe(['--ui', '-f', configPath, '--log-level', 'debug'], env());
  const { url, token } = await serve.ready();
  let streamUp = (): void => {};
  const connected = new Promise<void>((r) => (streamUp = r));
  api = createHttpBrokerApi({ baseUrl: url!, token: token!, onConnection: (state) => state === 'connected' && streamUp() });
  unsubscribe = api.subscribe((e) => events.push(e));
  await connected;
});

after(async () => {
  unsubscribe();
  for (const c of children) c.kill('SIGKILL');
  if (serve) {
    await serve.stop();
    outputs.push(serve.output());
  }
  await Promise.all([cluster?.stop(), sshd?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function addressOf(service: string): Promise<number> {
  const t = (await api.listTargets()).find((x) => x.name === service)!;
  assert.equal(t.status.state, 'listening');
  return Number(/:(\d+)$/.exec((t.status as { address: string }).address)![1]);
}

/** A client in the background; its output is kept for the secret search. */
function start(cmd: string, args: string[], childEnv: NodeJS.ProcessEnv): { child: ChildProcess; done: Promise<RunResult> } {
  const client = startClient(cmd, args, childEnv);
  children.add(client.child);
  const done = client.done.then((r) => {
    children.delete(client.child);
    outputs.push(r.stdout, r.stderr);
    return r;
  });
  return { child: client.child, done };
}

const psqlArgs = (port: number, ...rest: string[]) => ['-X', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'whoever', '-d', 'app', ...rest];

function startPsql(port: number, ...rest: string[]) {
  return start('psql', psqlArgs(port, ...rest), psqlEnv());
}

/** The next prompt (from the event stream) that matches, after event index `from`. */
async function nextPrompt(from: number, match: (p: ApprovalPrompt) => boolean = () => true): Promise<ApprovalPrompt> {
  return waitFor('an approval prompt', () => {
    for (const e of events.slice(from)) if (e.type === 'approval.requested' && match(e.approval)) return e.approval;
    return undefined;
  });
}

async function cli(...args: string[]): Promise<RunResult> {
  const r = await run(process.execPath, [CLI, ...args], { env: env(), timeoutMs: 30_000 });
  outputs.push(r.stdout, r.stderr);
  return r;
}

async function audit(): Promise<AuditRecord[]> {
  return api.recentAudit({ limit: 10_000 });
}

test('psql waits for the prompt, which names its executable and pid; approve lets it log in', async () => {
  const port = await addressOf('db');
  const mark = events.length;
  const client = startPsql(port, '-Atc', 'select current_user');
  const prompt = await nextPrompt(mark, (p) => p.service === 'db');
  // psql is still waiting: the broker sent it nothing yet.
  assert.equal(client.child.exitCode, null);
  assert.equal(prompt.process.pid, client.child.pid);
  assert.match(prompt.process.exe ?? '', /\/psql$/);
  assert.ok(prompt.process.cmdline?.includes('select current_user'), JSON.stringify(prompt.process.cmdline));
  assert.equal(prompt.connector, 'pg');
  assert.equal(prompt.processKnown, true);
  // The CLI lists it and answers it.
  const listed = await cli('approvals');
  assert.equal(listed.code, 0, listed.stderr);
  assert.ok(listed.stdout.includes(prompt.id.slice(0, 8)) && listed.stdout.includes(prompt.process.exe!) && listed.stdout.includes(`pid ${client.child.pid}`), listed.stdout);
  const approved = await cli('approve', prompt.id.slice(0, 8));
  assert.equal(approved.code, 0, approved.stderr);
  assert.match(approved.stdout, /allowed once/);
  const r = await client.done;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), cluster.users.scram.name);
  const answered = (await audit()).find((a) => a.type === 'approval.answered' && a.approvalId === prompt.id);
  assert.ok(answered && answered.type === 'approval.answered');
  assert.equal(answered.answer, 'allow-once');
  assert.equal(answered.by, 'cli');
  assert.equal(answered.process.pid, client.child.pid);
  // Once means once: the next psql asks again.
  const again = startPsql(port, '-Atc', 'select 1');
  const second = await nextPrompt(mark, (p) => p.service === 'db' && p.process.pid === again.child.pid);
  await api.answerApproval(second.id, { type: 'allow-once' });
  assert.equal((await again.done).code, 0);
});

test('deny: psql prints the broker\'s not_approved message', async () => {
  const port = await addressOf('db');
  const mark = events.length;
  const client = startPsql(port, '-Atc', 'select 1');
  const prompt = await nextPrompt(mark, (p) => p.process.pid === client.child.pid);
  const denied = await cli('deny', prompt.id);
  assert.equal(denied.code, 0, denied.stderr);
  const r = await client.done;
  assert.equal(r.code, 2);
  assert.match(r.stderr, /FATAL: +the broker's user did not allow this program \(\S+\/psql, pid \d+\) to use service '\w+' \(approval: ask\): denied/);
  const failed = (await audit()).find((a) => a.type === 'approval.answered' && a.approvalId === prompt.id);
  assert.ok(failed?.type === 'approval.answered' && failed.answer === 'deny' && failed.by === 'cli');
});

test('no answer within the timeout is a deny, audited as by: timeout', async () => {
  const port = await addressOf('db');
  const applied = events.length;
  writeFileSync(configPath, config(1_500));
  serve.child.kill('SIGHUP');
  await waitFor('the reload', () => events.slice(applied).some((e) => e.type === 'config.applied'));
  try {
    const mark = events.length;
    const client = startPsql(port, '-Atc', 'select 1');
    const prompt = await nextPrompt(mark, (p) => p.process.pid === client.child.pid);
    const r = await client.done;
    assert.equal(r.code, 2);
    assert.match(r.stderr, /FATAL: +the broker's user did not allow this program/);
    await waitFor('the timeout record', async () => (await audit()).find((a) => a.type === 'approval.answered' && a.approvalId === prompt.id && a.by === 'timeout' && a.answer === 'timeout'));
  } finally {
    const back = events.length;
    writeFileSync(configPath, config(60_000));
    serve.child.kill('SIGHUP');
    await waitFor('the reload', () => events.slice(back).some((e) => e.type === 'config.applied'));
  }
});

test('allow until exit: every \\connect of one psql -f goes through on one answer; a new psql is asked', async () => {
  const port = await addressOf('db');
  const script = join(dir, 'reconnect.sql');
  writeFileSync(script, 'select 1;\n\\connect app\nselect 2;\n\\connect app\nselect 3;\n\\connect app\nselect 4;\n');
  const mark = events.length;
  const client = startPsql(port, '-At', '-f', script);
  const prompt = await nextPrompt(mark, (p) => p.process.pid === client.child.pid);
  const approved = await cli('approve', prompt.id, '--until-exit');
  assert.equal(approved.code, 0, approved.stderr);
  const r = await client.done;
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n').filter((l) => /^\d$/.test(l)), ['1', '2', '3', '4']);
  const asked = events.slice(mark).filter((e) => e.type === 'approval.requested' && e.approval.process.pid === client.child.pid);
  assert.equal(asked.length, 1, 'one prompt for the four connections of one psql');
  const reused = (await audit()).filter((a) => a.type === 'approval.reused' && a.process.pid === client.child.pid);
  assert.equal(reused.length, 3);
  // Another psql (same executable, new process) is asked.
  const next = startPsql(port, '-Atc', 'select 1');
  const p2 = await nextPrompt(mark, (p) => p.process.pid === next.child.pid);
  await api.answerApproval(p2.id, { type: 'deny' });
  assert.equal((await next.done).code, 2);
});

test('allow this executable for a while, then lock: asked again, also by a service with approval: never; unlock ends that', async () => {
  const port = await addressOf('db');
  const openPort = await addressOf('open-db');
  const mark = events.length;
  const first = startPsql(port, '-Atc', 'select 1');
  const prompt = await nextPrompt(mark, (p) => p.process.pid === first.child.pid);
  assert.equal((await cli('approve', prompt.id, '--for', '4h')).code, 0);
  assert.equal((await first.done).code, 0);
  // A new psql process: the executable's grant covers it, nothing asks.
  const covered = await run('psql', psqlArgs(port, '-Atc', 'select 5'), { env: psqlEnv(), timeoutMs: 30_000 });
  assert.equal(covered.code, 0, covered.stderr);
  assert.equal(covered.stdout.trim(), '5');
  assert.equal(events.slice(mark).filter((e) => e.type === 'approval.requested').length, 1);

  const locked = await cli('lock');
  assert.equal(locked.code, 0, locked.stderr);
  assert.match(locked.stdout, /^locked/);
  assert.equal((await api.lockState()).locked, true);
  const afterLock = events.length;
  const asked = startPsql(port, '-Atc', 'select 6');
  const p1 = await nextPrompt(afterLock, (p) => p.process.pid === asked.child.pid);
  assert.equal(p1.locked, true);
  await api.answerApproval(p1.id, { type: 'allow-once' });
  assert.equal((await asked.done).stdout.trim(), '6');
  const never = startPsql(openPort, '-Atc', 'select 7');
  const p2 = await nextPrompt(afterLock, (p) => p.service === 'open-db' && p.process.pid === never.child.pid);
  await api.answerApproval(p2.id, { type: 'allow-once' });
  assert.equal((await never.done).stdout.trim(), '7');
  const lockRecord = (await audit()).find((a) => a.type === 'access.locked');
  assert.ok(lockRecord?.type === 'access.locked' && lockRecord.by === 'cli' && lockRecord.grantsRevoked >= 1, JSON.stringify(lockRecord));

  assert.equal((await cli('unlock')).code, 0);
  const free = await run('psql', psqlArgs(openPort, '-Atc', 'select 8'), { env: psqlEnv(), timeoutMs: 30_000 });
  assert.equal(free.stdout.trim(), '8');
  // The grant the lock revoked stays revoked: db asks again.
  const unlockMark = events.length;
  const still = startPsql(port, '-Atc', 'select 9');
  const p3 = await nextPrompt(unlockMark, (p) => p.process.pid === still.child.pid);
  assert.equal(p3.locked, false);
  await api.answerApproval(p3.id, { type: 'deny' });
  assert.equal((await still.done).code, 2);
});

test('lock --close-sessions closes open sessions; a plain lock leaves them', async () => {
  const openPort = await addressOf('open-db');
  const held = start('psql', psqlArgs(openPort, '-Atc', 'select pg_sleep(30)'), psqlEnv());
  await waitFor('the held session', async () => (await api.listTargets()).find((t) => t.name === 'open-db')!.connections >= 1);
  assert.equal((await cli('lock')).code, 0);
  assert.equal(held.child.exitCode, null, 'a plain lock closes nothing');
  const closing = await cli('lock', '--close-sessions');
  assert.equal(closing.code, 0, closing.stderr);
  const r = await held.done;
  assert.notEqual(r.code, 0);
  assert.equal((await cli('unlock')).code, 0);
});

test('ssh-agent: ssh waits for a per-key prompt naming the key and fingerprint; allowed it logs in, denied it cannot sign', async () => {
  const fp = fingerprintOfFile(`${key.path}.pub`);
  const sshArgs = [...sshOptions({ port: sshd.port, knownHosts: join(dir, 'known_hosts') }).filter((a) => a !== 'IdentityFile=none').slice(0, -1), '-o', `IdentityAgent=${agentSock()}`, '-o', `IdentityFile=${key.path}.pub`, `${sshd.user}@127.0.0.1`, 'echo logged-in'];
  const sshEnv = { PATH: process.env.PATH, HOME: dir, LANG: 'C' };
  // Listing keys needs no approval.
  const listed = await run('ssh-add', ['-l'], { env: { ...sshEnv, SSH_AUTH_SOCK: agentSock() } });
  assert.equal(listed.code, 0, listed.stderr);
  assert.ok(listed.stdout.includes(fp));

  const mark = events.length;
  const ssh = start('ssh', sshArgs, sshEnv);
  const prompt = await nextPrompt(mark, (p) => p.service === 'agent');
  assert.deepEqual(prompt.key, { name: 'deploy', fingerprint: fp });
  assert.equal(prompt.process.pid, ssh.child.pid);
  assert.equal(prompt.process.exe, '/usr/bin/ssh');
  assert.equal((await cli('approve', prompt.id)).code, 0);
  const r = await ssh.done;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'logged-in\n');

  const mark2 = events.length;
  const refused = start('ssh', sshArgs, sshEnv);
  const p2 = await nextPrompt(mark2, (p) => p.service === 'agent');
  assert.equal((await cli('deny', p2.id)).code, 0);
  const r2 = await refused.done;
  assert.equal(r2.code, 255);
  assert.match(r2.stderr, /Permission denied/);
  const records = await audit();
  assert.ok(records.some((a) => a.type === 'ssh-agent.refused' && a.request.includes(fp) && a.request.includes('not approved')));
  assert.ok(records.some((a) => a.type === 'approval.answered' && a.approvalId === prompt.id && a.key === `${fp} deploy` && a.by === 'cli'));
});

test('the CLI refuses bad answers and unknown prompts clearly', async () => {
  const unknown = await cli('approve', 'no-such-prompt');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no approval prompt 'no-such-prompt'/);
  const bad = await cli('approve', 'x', '--for', 'soon');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--for: 'soon' is not a duration/);
});

test('no output, audit record or log line carries the password', async () => {
  const all = outputs.join('\n') + serve.output() + JSON.stringify(await audit()) + JSON.stringify(events);
  assert.ok(!all.includes(cluster.users.scram.password));
});
