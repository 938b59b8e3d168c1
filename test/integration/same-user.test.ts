// Same user only, with a real second OS user (sld-other, created here) and the real
// clients: psql, mariadb, redis-cli, curl, ssh, ssh-add, each run as that user with
// runuser. The other user is refused with the broker's message in its own protocol, read
// from the client's output; the broker's own user is served; the audit names both users;
// and a refused client never reaches a provider (a recording provider) or the target
// (a counting forwarder in front of each real server). Then sharing (allowUsers,
// allowAnyUser), and a broker run by a non-root user, which refuses root.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AuditEvent, ClientInfo } from '../../broker/audit/types.js';
import type { Provider } from '../../broker/credentials/types.js';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { startCountingProxy, type CountingProxy } from '../fixtures/counting-proxy.js';
import { startHttpBackend, type HttpBackend } from '../fixtures/http-backend.js';
import { startMariaDb, type MariaDb } from '../fixtures/mariadb-cluster.js';
import { ensureOsUser, giveTo, runAs, type OsUser } from '../fixtures/os-user.js';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { startRedis, type RedisServer } from '../fixtures/redis-server.js';
import { clientEnv, run, type RunResult } from '../fixtures/run.js';
import { CLI } from '../fixtures/serve.js';
import { makeKey, sshOptions, startSshd, type KeyFiles, type Sshd } from '../fixtures/sshd.js';
import { ensureSshHostKey } from '../../broker/ssh/host-key.js';
import { waitFor } from '../fixtures/wait-for.js';

let other: OsUser;
let dir: string;
let cluster: PgCluster;
let maria: MariaDb;
let redis: RedisServer;
let sshd: Sshd;
let backend: HttpBackend;
let tb: TestBroker;
let clientKey: KeyFiles;
let otherKey: string;
let knownHosts: string;
let agentSock: string;
const proxies: Record<string, CountingProxy> = {};
const TOKEN = `tok-${Date.now().toString(36)}`;
const clientOutput: string[] = [];

/** A provider that records which ids were asked for: a refused client must add none. */
const values = new Map<string, string>();
const fetched: string[] = [];
const recorded: Provider = {
  name: 'recorded',
  async get(ids) {
    fetched.push(...ids);
    return new Map(ids.map((id) => [id, { value: Buffer.from(values.get(id) ?? '') }]));
  },
};

const MESSAGE = "connection refused: the broker serves only user 'root'";

before(async () => {
  other = ensureOsUser('sld-other');
  dir = mkdtempSync(join(tmpdir(), 'sl-same-user-'));
  // Traversable by the other user: the only thing between it and a socket is the socket's own mode.
  chmodSync(dir, 0o755);
  [cluster, maria, redis, sshd, backend] = await Promise.all([startPgCluster(), startMariaDb(), startRedis({ auth: 'acl' }), startSshd(), startHttpBackend()]);
  for (const [name, port] of Object.entries({ pg: cluster.port, my: maria.port, rd: redis.port, web: backend.port, box: sshd.port, raw: sshd.port, shared: cluster.port })) {
    proxies[name] = await startCountingProxy(port);
  }
  const upstreamKey = makeKey(dir, 'upstream', 'ed25519');
  sshd.authorize(upstreamKey.publicLine);
  clientKey = makeKey(dir, 'client', 'ed25519');
  // The other user's copy of the client key: ssh refuses a key file others can read.
  const otherDir = join(dir, 'other');
  mkdirSync(otherDir, { mode: 0o700 });
  otherKey = join(otherDir, 'client');
  writeFileSync(otherKey, readFileSync(clientKey.path), { mode: 0o600 });
  giveTo(other, otherDir, otherKey);
  const stateDir = join(dir, 'state');
  const brokerHostKey = await ensureSshHostKey(stateDir);
  values.set('pg', cluster.users.scram.password);
  values.set('my', maria.users.native.password);
  values.set('rd', redis.app.password);
  values.set('web', TOKEN);
  values.set('key', readFileSync(upstreamKey.path, 'utf8'));
  agentSock = join(dir, 'agent.sock');
  const pg = (name: string, extra = '') => `  ${name}:
    connector: pg
    listenOn: tcp://127.0.0.1:0${extra}
    credentials: { host: 127.0.0.1, port: ${proxies[name === 'shared' ? 'shared' : 'pg']!.port}, username: ${cluster.users.scram.name}, password: { from: recorded, get: pg }, sslmode: disable }
`;
  const sshTarget = (proxy: string) =>
    `address: 127.0.0.1:${proxies[proxy]!.port}, user: ${sshd.user}, privateKey: { from: recorded, get: key }, hostKey: ${JSON.stringify(`[127.0.0.1]:${proxies[proxy]!.port} ${sshd.hostKeyLine}`)}`;
  tb = await startTestBroker(
    `version: "2"
services:
${pg('pg')}
${pg('shared', `\n    allowUsers: [${other.name}]`)}
${pg('by-uid', `\n    allowUsers: [${other.uid}]`)}
${pg('open', '\n    allowAnyUser: true')}
${pg('someone-else', '\n    allowUsers: [4242, nobody]')}
  my:
    connector: mysql
    listenOn: tcp://127.0.0.1:0
    credentials: { host: 127.0.0.1, port: ${proxies.my!.port}, username: ${maria.users.native.name}, password: { from: recorded, get: my }, sslmode: disable }
  rd:
    connector: redis
    listenOn: tcp://127.0.0.1:0
    credentials: { host: 127.0.0.1, port: ${proxies.rd!.port}, username: app, password: { from: recorded, get: rd }, sslmode: disable }
  web:
    connector: http
    listenOn: tcp://127.0.0.1:0
    credentials: { token: { from: recorded, get: web } }
    config: { upstream: "http://127.0.0.1:${proxies.web!.port}" }
  box:
    connector: ssh
    listenOn: tcp://127.0.0.1:0
    credentials: { ${sshTarget('box')} }
    config: { authorizedKeys: ${clientKey.path}.pub, hostKeyDir: ${stateDir} }
  raw:
    connector: ssh-tunnel
    listenOn: tcp://127.0.0.1:0
    credentials: { ${sshTarget('raw')}, remoteHost: 127.0.0.1, remotePort: ${cluster.port} }
  agent:
    connector: ssh-agent
    listenOn: unix://${agentSock}
    credentials: { deploy: { from: recorded, get: key } }
`,
    { providers: [recorded] },
  );
  knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${tb.tcp('box').port} ${brokerHostKey.publicKey}\n`, { mode: 0o644 });
});

after(async () => {
  await tb?.stop();
  await Promise.all(Object.values(proxies).map((p) => p.close()));
  await Promise.all([cluster?.stop(), maria?.stop(), redis?.stop(), sshd?.stop(), backend?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

function keep(r: RunResult): RunResult {
  clientOutput.push(r.stdout, r.stderr);
  return r;
}

/** A client run as the other user (runAs) or as the broker's own user (root), same arguments. */
async function asOther(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return keep(await runAs(other, cmd, args, { env: clientEnv({ HOME: other.home, ...env }), timeoutMs: 30_000 }));
}

async function asOwner(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return keep(await run(cmd, args, { env: clientEnv({ HOME: dir, ...env }), timeoutMs: 30_000 }));
}

type Opened = Extract<AuditEvent, { type: 'connection.opened' }>;
type Failed = Extract<AuditEvent, { type: 'connection.failed' }>;

/** The audit of the service's connections since `from`: who opened each, and the refusals. */
function auditSince(service: string, from: number): { opened: ClientInfo[]; refused: Failed[] } {
  const records = tb.audit.records.slice(from) as AuditEvent[];
  return {
    opened: records.filter((r): r is Opened => r.type === 'connection.opened' && r.service === service).map((r) => r.client),
    refused: records.filter((r): r is Failed => r.type === 'connection.failed' && r.service === service && r.code === 'peer_not_allowed'),
  };
}

/**
 * The shared shape of every protocol's test: the other user's client is refused (its
 * output checked by `refusedSays`), audited with its uid and name, and reaches neither
 * provider nor target; then the owner's client is served and audited as root.
 */
async function refusedThenServed(
  service: string,
  refusedRun: () => Promise<RunResult>,
  refusedSays: (r: RunResult) => void,
  servedRun: () => Promise<RunResult>,
  servedSays: (r: RunResult) => void,
  credentialId: string,
): Promise<void> {
  const from = tb.audit.records.length;
  const fetchedBefore = fetched.length;
  const reachedBefore = proxies[service]?.connections ?? 0;
  const refused = await refusedRun();
  refusedSays(refused);
  const audit = auditSince(service, from);
  assert.equal(audit.refused.length, 1, JSON.stringify(tb.audit.records.slice(from)));
  assert.match(audit.refused[0]!.reason, new RegExp(`${MESSAGE}; the client is user '${other.name}' \\(uid ${other.uid}\\)`));
  assert.deepEqual(audit.opened.map((c) => [c.uid, c.user]), [[other.uid, other.name]]);
  assert.deepEqual(fetched.slice(fetchedBefore), [], 'the refused client made the broker fetch credentials');
  if (proxies[service]) assert.equal(proxies[service]!.connections, reachedBefore, 'the refused client reached the target');

  const served = await servedRun();
  servedSays(served);
  const after = auditSince(service, from);
  assert.equal(after.refused.length, 1);
  assert.deepEqual(after.opened.slice(1).map((c) => [c.uid, c.user]), [[0, 'root']]);
  assert.ok(fetched.slice(fetchedBefore).includes(credentialId), `the served client's credentials were fetched (${fetched.slice(fetchedBefore)})`);
  if (proxies[service]) assert.ok(proxies[service]!.connections > reachedBefore, 'the served client reached the target');
}

const psqlArgs = (port: number, sql = 'select current_user') => ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', 'whoever', '-d', 'app', '-Atc', sql];

describe('same user only: another OS user is refused in its own protocol, the broker user is served', () => {
  test('pg: psql (SSL negotiation and all) prints the FATAL; the target and the provider never hear of it', async () => {
    const port = tb.tcp('pg').port;
    await refusedThenServed(
      'pg',
      () => asOther('psql', psqlArgs(port), { PGSSLMODE: 'prefer' }),
      (r) => {
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`FATAL: +${MESSAGE}`));
      },
      () => asOwner('psql', psqlArgs(port), { PGSSLMODE: 'prefer' }),
      (r) => assert.equal(r.stdout.trim(), cluster.users.scram.name, r.stderr),
      'pg',
    );
  });

  test('mysql: the mariadb client prints ERROR 1130 with the message', async () => {
    const port = String(tb.tcp('my').port);
    const args = ['-h', '127.0.0.1', '-P', port, '-u', 'whoever', '--skip-ssl', '-N', '-e', 'select current_user()'];
    await refusedThenServed(
      'my',
      () => asOther('mariadb', args),
      (r) => {
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`ERROR 1130 \\(HY000\\).*${MESSAGE}`));
      },
      () => asOwner('mariadb', args),
      (r) => assert.match(r.stdout, new RegExp(`^${maria.users.native.name}@`), r.stderr),
      'my',
    );
  });

  test('redis: redis-cli gets -ERR with the message', async () => {
    const args = ['-h', '127.0.0.1', '-p', String(tb.tcp('rd').port), 'ACL', 'WHOAMI'];
    await refusedThenServed(
      'rd',
      () => asOther('redis-cli', args),
      (r) => assert.match(r.stdout + r.stderr, new RegExp(`ERR secretless: ${MESSAGE}`)),
      () => asOwner('redis-cli', args),
      (r) => assert.equal(r.stdout.trim(), 'app', r.stderr),
      'rd',
    );
  });

  test('http: curl gets 403 with the message', async () => {
    const url = `http://127.0.0.1:${tb.tcp('web').port}/api/echo`;
    const args = ['-sS', '-w', '\\n%{http_code}', url];
    await refusedThenServed(
      'web',
      () => asOther('curl', args),
      (r) => {
        assert.match(r.stdout, /\n403$/);
        assert.match(r.stdout, new RegExp(`secretless-desktop: ${MESSAGE} \\(peer_not_allowed\\)`));
      },
      () => asOwner('curl', args),
      (r) => {
        assert.match(r.stdout, /\n200$/);
        assert.equal(JSON.parse(r.stdout.replace(/\n200$/, '')).headers.authorization, `Bearer ${TOKEN}`);
      },
      'web',
    );
  });

  test('ssh: OpenSSH prints the disconnect with the message; the broker user gets a shell on the target', async () => {
    const port = tb.tcp('box').port;
    const args = (key: string) => [...sshOptions({ port, knownHosts, key }), '127.0.0.1', 'echo served'];
    await refusedThenServed(
      'box',
      () => asOther('ssh', args(otherKey)),
      (r) => {
        assert.equal(r.code, 255);
        assert.match(r.stderr, new RegExp(`Received disconnect from 127\\.0\\.0\\.1 port ${port}:1: ${MESSAGE}`));
      },
      () => asOwner('ssh', args(clientKey.path)),
      (r) => assert.equal(r.stdout, 'served\n', r.stderr),
      'key',
    );
  });

  test('ssh-tunnel: raw TCP has no error message, so the connection just closes; the bastion is never dialled', async () => {
    const port = tb.tcp('raw').port;
    await refusedThenServed(
      'raw',
      () => asOther('psql', psqlArgs(port), { PGSSLMODE: 'disable', PGPASSWORD: cluster.users.scram.password }),
      (r) => {
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /server closed the connection unexpectedly/);
      },
      () => asOwner('psql', ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', cluster.users.scram.name, '-d', 'app', '-Atc', 'select 42'], { PGSSLMODE: 'disable', PGPASSWORD: cluster.users.scram.password }),
      (r) => assert.equal(r.stdout.trim(), '42', r.stderr),
      'key',
    );
  });

  test('ssh-agent: the socket is 0600, so the other user cannot even connect; the broker user lists the key', async () => {
    assert.equal(statSync(agentSock).mode & 0o777, 0o600);
    const from = tb.audit.records.length;
    const refused = await asOther('ssh-add', ['-l'], { SSH_AUTH_SOCK: agentSock });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /Error connecting to agent: Permission denied/);
    assert.deepEqual(auditSince('agent', from).opened, [], 'the kernel refused it: the broker never saw a connection');
    const served = await asOwner('ssh-add', ['-l'], { SSH_AUTH_SOCK: agentSock });
    assert.equal(served.code, 0, served.stderr);
    assert.match(served.stdout, /ED25519/);
  });
});

describe('sharing a service with another user', () => {
  test('allowUsers by name or uid, and allowAnyUser, let the other user in', async () => {
    for (const service of ['shared', 'by-uid', 'open']) {
      const from = tb.audit.records.length;
      const r = await asOther('psql', psqlArgs(tb.tcp(service).port), { PGSSLMODE: 'disable' });
      assert.equal(r.stdout.trim(), cluster.users.scram.name, `${service}: ${r.stderr}`);
      const opened = auditSince(service, from).opened;
      // allowAnyUser skips the owner lookup; the others record whom they let in.
      if (service !== 'open') assert.deepEqual(opened.map((c) => [c.uid, c.user]), [[other.uid, other.name]]);
    }
  });

  test('a service shared with someone else still refuses the other user, and says whom it serves', async () => {
    const r = await asOther('psql', psqlArgs(tb.tcp('someone-else').port), { PGSSLMODE: 'disable' });
    assert.match(r.stderr, new RegExp(`FATAL: +${MESSAGE} and, for this service, uid 4242, 'nobody'`));
  });

  test('no secret reaches the log or the audit, nor a refused client', () => {
    for (const secret of [cluster.users.scram.password, maria.users.native.password, redis.app.password, TOKEN]) {
      assert.ok(!tb.output().includes(secret), 'a secret in the broker output');
    }
  });
});

describe('a broker run by a non-root user', () => {
  test('refuses root, names its own user, and serves that user', async () => {
    const home = join(dir, 'home');
    mkdirSync(home, { mode: 0o700 });
    giveTo(other, home);
    const config = join(home, 'secretless.yml');
    const audit = join(home, 'audit.jsonl');
    writeFileSync(
      config,
      `version: "2"
services:
  pg:
    connector: pg
    listenOn: tcp://127.0.0.1:0
    credentials: { host: 127.0.0.1, port: ${cluster.port}, username: ${cluster.users.scram.name}, password: { from: env, get: PW }, sslmode: disable }
`,
      { mode: 0o600 },
    );
    giveTo(other, config);
    const env = { HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_STATE_HOME: join(home, '.state'), XDG_DATA_HOME: join(home, '.data'), PW: cluster.users.scram.password };
    const child = spawn('runuser', ['-u', other.name, '--', process.execPath, CLI, 'serve', '-f', config, '--audit-log', audit], { env: clientEnv(env) });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    try {
      const port = Number((await waitFor(() => `serve ready; output:\n${out}`, () => /service=pg address=tcp:\/\/127\.0\.0\.1:(\d+)/.exec(out)))[1]);
      const refused = await asOwner('psql', psqlArgs(port), { PGSSLMODE: 'prefer' });
      assert.match(refused.stderr, new RegExp(`FATAL: +connection refused: the broker serves only user '${other.name}'`));
      const served = await asOther('psql', psqlArgs(port), { PGSSLMODE: 'prefer' });
      assert.equal(served.stdout.trim(), cluster.users.scram.name, served.stderr);
      const records = await waitFor('both connections audited', () => {
        const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditEvent);
        return lines.filter((r) => r.type === 'connection.opened').length >= 2 ? lines : undefined;
      });
      const opened = records.filter((r): r is Opened => r.type === 'connection.opened').map((r) => [r.client.uid, r.client.user]);
      assert.deepEqual(opened, [[0, 'root'], [other.uid, other.name]]);
      const failed = records.find((r): r is Failed => r.type === 'connection.failed');
      assert.equal(failed?.code, 'peer_not_allowed');
      assert.match(failed!.reason, /the client is user 'root' \(uid 0\)/);
      assert.ok(!out.includes(cluster.users.scram.password) && !readFileSync(audit, 'utf8').includes(cluster.users.scram.password));
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });
});
