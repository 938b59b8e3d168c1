// What a waiting client sees in each protocol: mariadb, ssh, redis-cli and curl connect
// to services with `approval: ask`, wait, and are then let through (allow once) or get
// the broker's not_approved refusal in their own protocol (MySQL ERR 1045 in place of the
// greeting, an SSH disconnect before key exchange, Redis -NOPERM, HTTP 403). psql and the
// ssh-agent are in approvals.test.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ApprovalAnswer, ApprovalPrompt } from '../../broker/api.js';
import { ensureSshHostKey } from '../../broker/ssh/host-key.js';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { startHttpBackend, type HttpBackend } from '../fixtures/http-backend.js';
import { startMariaDb, type MariaDb } from '../fixtures/mariadb-cluster.js';
import { startRedis, type RedisServer } from '../fixtures/redis-server.js';
import { clientEnv, startClient, type RunResult } from '../fixtures/run.js';
import { makeKey, sshOptions, startSshd, type KeyFiles, type Sshd } from '../fixtures/sshd.js';
import { waitFor } from '../fixtures/wait-for.js';
import { configYaml } from '../fixtures/yaml.js';

let maria: MariaDb;
let sshd: Sshd;
let redis: RedisServer;
let backend: HttpBackend;
let tb: TestBroker;
let dir: string;
let clientKey: KeyFiles;
let knownHosts: string;
const prompts: ApprovalPrompt[] = [];

before(async () => {
  [maria, sshd, redis, backend] = await Promise.all([startMariaDb(), startSshd(), startRedis({ auth: 'requirepass' }), startHttpBackend()]);
  dir = mkdtempSync(join(tmpdir(), 'sd-approvals-proto-'));
  clientKey = makeKey(dir, 'client', 'ed25519');
  const upstreamKey = makeKey(dir, 'upstream', 'ed25519');
  sshd.authorize(upstreamKey.publicLine);
  const hostKeyDir = join(dir, 'state');
  const brokerKey = await ensureSshHostKey(hostKeyDir);
  tb = await startTestBroker(
    configYaml({
      maria: { connector: 'mysql', approval: 'ask', credentials: { host: '127.0.0.1', port: maria.port, username: maria.users.native.name, password: { from: 'env', get: 'MARIA_PW' }, sslmode: 'disable' } },
      box: {
        connector: 'ssh',
        approval: 'ask',
        credentials: { address: `127.0.0.1:${sshd.port}`, user: sshd.user, privateKey: { from: 'file', get: upstreamKey.path }, hostKey: sshd.hostKeyFingerprint },
        config: { authorizedKeys: `${clientKey.path}.pub`, hostKeyDir },
      },
      cache: { connector: 'redis', approval: 'ask', credentials: { host: '127.0.0.1', port: redis.port, password: { from: 'env', get: 'REDIS_PW' }, sslmode: 'disable' } },
      api: { connector: 'http', approval: 'ask', credentials: { token: { from: 'env', get: 'API_TOKEN' } }, config: { upstream: `http://127.0.0.1:${backend.port}` } },
    }),
    { env: { MARIA_PW: maria.users.native.password, REDIS_PW: redis.defaultPassword, API_TOKEN: 'approval-test-token' }, approvals: true },
  );
  tb.approvals!.subscribe((e) => e.type === 'approval.requested' && prompts.push(e.approval));
  knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${tb.tcp('box').port} ${brokerKey.publicKey}\n`);
});

after(async () => {
  await tb?.stop();
  await Promise.all([maria?.stop(), sshd?.stop(), redis?.stop(), backend?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs the client, answers its prompt once it is asked, returns what the client printed. */
async function asked(service: string, cmd: string, args: string[], answer: ApprovalAnswer, env: NodeJS.ProcessEnv = clientEnv()): Promise<RunResult> {
  const client = startClient(cmd, args, env);
  const prompt = await waitFor(`${cmd}'s prompt`, () => prompts.find((p) => p.service === service && p.process.pid === client.child.pid));
  assert.equal(client.child.exitCode, null, `${cmd} waits for the answer`);
  assert.ok(tb.approvals!.answer(prompt.id, answer, 'cli'));
  return client.done;
}

const allow: ApprovalAnswer = { type: 'allow-once' };
const deny: ApprovalAnswer = { type: 'deny' };
const REFUSAL = "the broker's user did not allow this program (";

test('mariadb: allowed it logs in; denied it prints ERROR 1045 with the broker\'s message', async () => {
  const args = ['--no-defaults', '-h', '127.0.0.1', '-P', String(tb.tcp('maria').port), '-u', 'someone', '-N', '-B', '-e', 'SELECT CURRENT_USER()'];
  const ok = await asked('maria', 'mariadb', args, allow);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`^${maria.users.native.name}@`));
  const refused = await asked('maria', 'mariadb', args, deny);
  assert.equal(refused.code, 1);
  // MariaDB 11's client expects TLS and says it cannot verify an error sent before it; the error itself is shown.
  assert.match(refused.stderr, /ERROR (1045 \(28000\)|2002 \(HY000\)).*1045 - the broker's user did not allow this program \(\/usr\/bin\/mariadb, pid \d+\) to use service 'maria' \(approval: ask\): denied/);
});

test('ssh: allowed it runs the command; denied it prints the disconnect message', async () => {
  const args = [...sshOptions({ port: tb.tcp('box').port, knownHosts, key: clientKey.path }), `${sshd.user}@127.0.0.1`, 'echo through-the-broker'];
  const env = { PATH: process.env.PATH, HOME: dir, LANG: 'C' };
  const ok = await asked('box', 'ssh', args, allow, env);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'through-the-broker\n');
  const refused = await asked('box', 'ssh', args, deny, env);
  assert.equal(refused.code, 255);
  assert.match(refused.stderr, /Received disconnect from 127\.0\.0\.1 port \d+:1: the broker's user did not allow this program/);
});

test('redis-cli: allowed it gets PONG; denied it prints the NOPERM error', async () => {
  const args = ['-p', String(tb.tcp('cache').port), 'PING'];
  const env = { PATH: process.env.PATH };
  const ok = await asked('cache', 'redis-cli', args, allow, env);
  assert.equal(ok.stdout.trim(), 'PONG');
  const refused = await asked('cache', 'redis-cli', args, deny, env);
  assert.match(refused.stdout + refused.stderr, /NOPERM secretless: the broker's user did not allow this program \(/);
});

test('curl: allowed it gets the upstream\'s answer; denied it gets 403 with the broker\'s message', async () => {
  const args = ['-sS', '-o', '-', '-w', '\\n%{http_code}', `http://127.0.0.1:${tb.tcp('api').port}/bearer/echo`];
  const ok = await asked('api', 'curl', args, allow);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /\n200$/);
  const refused = await asked('api', 'curl', args, deny);
  assert.match(refused.stdout, /\n403$/);
  assert.ok(refused.stdout.includes(REFUSAL), refused.stdout);
});

test('every answer is audited with the program and who answered; no output holds a secret', async () => {
  const answered = tb.audit.records.filter((r) => r.type === 'approval.answered');
  assert.equal(answered.length, 8);
  for (const r of answered) assert.ok(r.type === 'approval.answered' && r.by === 'cli' && r.process.pid !== undefined && r.process.exe, JSON.stringify(r));
  const all = tb.output();
  for (const secret of [maria.users.native.password, redis.defaultPassword, 'approval-test-token']) assert.ok(!all.includes(secret));
});
