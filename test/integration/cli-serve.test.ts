// The real `secretless-desktop serve` process: config from a file, SIGHUP and --watch
// reloads that keep unchanged services' connections, a bad config that leaves the
// running one in place, the audit log file, and no secret in anything it writes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { clientEnv, run } from '../fixtures/run.js';
import { CLI, startServe, type ServeProcess } from '../fixtures/serve.js';
import { configYaml } from '../fixtures/yaml.js';
import { waitFor } from '../fixtures/wait-for.js';

let cluster: PgCluster;
let dir: string;

/** serve with this test's state and config directories. */
const serve = (args: string[], env: NodeJS.ProcessEnv): ServeProcess =>
  startServe(args, { ...env, XDG_STATE_HOME: join(dir, 'state'), XDG_CONFIG_HOME: join(dir, 'config') });

function yamlFor(services: Record<string, { port: number; user: string; pwVar: string }>): string {
  return configYaml(
    Object.fromEntries(
      Object.entries(services).map(([name, s]) => [
        name,
        {
          connector: 'pg',
          listenOn: `tcp://127.0.0.1:${s.port}`,
          credentials: { host: '127.0.0.1', port: cluster.port, username: s.user, password: { from: 'env', get: s.pwVar }, sslmode: 'disable' },
        },
      ]),
    ),
  );
}

async function query(port: number, sql = 'select current_user as u'): Promise<string> {
  const client = new pg.Client({ host: '127.0.0.1', port, database: 'app', user: 'someone' });
  await client.connect();
  try {
    return String(Object.values((await client.query(sql)).rows[0])[0]);
  } finally {
    await client.end();
  }
}

async function freePorts(n: number): Promise<number[]> {
  const { freePort } = await import('../fixtures/free-port.js');
  const out: number[] = [];
  while (out.length < n) {
    const p = await freePort();
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

before(async () => {
  cluster = await startPgCluster();
  dir = mkdtempSync(join(tmpdir(), 'sl-cli-'));
});
after(async () => {
  await cluster?.stop();
});

describe('secretless-desktop serve', () => {
  test('serves a config file; SIGHUP reloads changed services and keeps unchanged ones; a bad config is rejected', async () => {
    const [pa, pb, pb2, pc] = await freePorts(4);
    const cfg = join(dir, 'secretless.yml');
    const auditPath = join(dir, 'audit', 'audit.jsonl');
    const env = { PW_A: cluster.users.scram.password, PW_B: cluster.users.md5.password };
    writeFileSync(cfg, yamlFor({ a: { port: pa!, user: 'scram_user', pwVar: 'PW_A' }, b: { port: pb!, user: 'md5_user', pwVar: 'PW_B' } }));
    const s = serve(['-f', cfg, '--audit-log', auditPath, '--log-level', 'debug'], env);
    try {
      await s.waitFor(new RegExp(`service listening service=b address=tcp://127.0.0.1:${pb}`));
      await s.waitFor(new RegExp(`service listening service=a address=tcp://127.0.0.1:${pa}`));
      assert.equal(await query(pa!), 'scram_user');
      assert.equal(await query(pb!), 'md5_user');
      // Which pipe carries the data phase: on Linux the native pump, built by the test script.
      assert.match(s.output(), process.platform === 'linux' ? /data path pipe=native/ : /data path pipe=js why="not Linux"/);

      // A session on the unchanged service stays open across the reload.
      const held = new pg.Client({ host: '127.0.0.1', port: pa, database: 'app', user: 'x' });
      await held.connect();
      const mark = s.output().length;
      writeFileSync(cfg, yamlFor({ a: { port: pa!, user: 'scram_user', pwVar: 'PW_A' }, b: { port: pb2!, user: 'md5_user', pwVar: 'PW_B' }, c: { port: pc!, user: 'scram_user', pwVar: 'PW_A' } }));
      s.child.kill('SIGHUP');
      await s.waitFor(new RegExp(`service listening service=c`), mark);
      await s.waitFor(new RegExp(`service listening service=b address=tcp://127.0.0.1:${pb2}`), mark);
      assert.doesNotMatch(s.output().slice(mark), /service stopped service=a/);
      assert.equal((await held.query('select 42 as n')).rows[0].n, 42);
      assert.equal(await query(pb2!), 'md5_user');
      assert.equal(await query(pc!), 'scram_user');
      await assert.rejects(query(pb!), /ECONNREFUSED/);

      // A broken config: reported with its line, the running services stay.
      const mark2 = s.output().length;
      writeFileSync(cfg, yamlFor({ a: { port: pa!, user: 'scram_user', pwVar: 'PW_A' } }).replace('    connector: pg', '    connector: pg\n    listenon: tcp://127.0.0.1:1'));
      s.child.kill('SIGHUP');
      await s.waitFor(/new config rejected; the running config stays/, mark2);
      assert.match(s.output().slice(mark2), /line 5: services\.a\.listenon/);
      assert.equal((await held.query('select 43 as n')).rows[0].n, 43);
      assert.equal(await query(pc!), 'scram_user');
      await held.end();
    } finally {
      assert.equal(await s.stop(), 0);
    }

    const auditText = readFileSync(auditPath, 'utf8');
    assert.equal(statSync(auditPath).mode & 0o777, 0o600);
    const records = auditText.trim().split('\n').map((l) => JSON.parse(l));
    const types = new Set(records.map((r) => r.type));
    for (const t of ['config.loaded', 'config.rejected', 'service.started', 'service.stopped', 'connection.opened', 'connection.authenticated', 'connection.closed', 'credential.fetched'])
      assert.ok(types.has(t), `audit log has ${t}`);
    const closedWithBytes = records.find((r) => r.type === 'connection.closed' && r.bytesToClient > 0);
    assert.ok(closedWithBytes && typeof closedWithBytes.durationMs === 'number' && closedWithBytes.time);
    for (const secret of Object.values(env)) {
      assert.ok(!auditText.includes(secret), 'password in the audit log');
      assert.ok(!s.output().includes(secret), 'password in the log');
    }
  });

  test('--watch reloads when the file changes', async () => {
    const [pa, pb] = await freePorts(2);
    const cfg = join(dir, 'watched.yml');
    writeFileSync(cfg, yamlFor({ a: { port: pa!, user: 'scram_user', pwVar: 'PW_A' } }));
    const s = serve(['-f', cfg, '--watch', '--audit-log', join(dir, 'w.jsonl')], { PW_A: cluster.users.scram.password, PW_B: cluster.users.md5.password });
    try {
      await s.waitFor(/watching the config file for changes/);
      writeFileSync(cfg, yamlFor({ a: { port: pa!, user: 'scram_user', pwVar: 'PW_A' }, b: { port: pb!, user: 'scram_user', pwVar: 'PW_A' } }));
      await s.waitFor(/service listening service=b/);
      assert.equal(await query(pb!), 'scram_user');
      // Same address, other credentials: the service restarts in place.
      const mark = s.output().length;
      writeFileSync(cfg, yamlFor({ a: { port: pa!, user: 'scram_user', pwVar: 'PW_A' }, b: { port: pb!, user: 'md5_user', pwVar: 'PW_B' } }));
      await s.waitFor(/service listening service=b/, mark);
      assert.equal(await query(pb!), 'md5_user');
    } finally {
      assert.equal(await s.stop(), 0);
    }
  });

  test('a Unix socket listener is created 0600, records the client process with --peer-lookup, and is removed on exit', async () => {
    const sockDir = mkdtempSync(join(dir, 'sock-'));
    const sock = join(sockDir, '.s.PGSQL.5432');
    const cfg = join(dir, 'unix.yml');
    const auditPath = join(dir, 'u.jsonl');
    writeFileSync(cfg, yamlFor({ a: { port: 1, user: 'scram_user', pwVar: 'PW_A' } }).replace('tcp://127.0.0.1:1', `unix://${sock}`));
    const s = serve(['-f', cfg, '--audit-log', auditPath, '--peer-lookup'], { PW_A: cluster.users.scram.password });
    try {
      await s.waitFor(/service listening service=a/);
      assert.ok(statSync(sock).isSocket());
      assert.equal(statSync(sock).mode & 0o777, 0o600);
      const r = await run('psql', ['-X', '-h', sockDir, '-p', '5432', '-d', 'app', '-U', 'x', '-Atc', 'select current_user'], { env: clientEnv() });
      assert.equal(r.stdout.trim(), 'scram_user', r.stderr);
    } finally {
      assert.equal(await s.stop(), 0);
    }
    assert.throws(() => statSync(sock), /ENOENT/);
    const opened = readFileSync(auditPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((r) => r.type === 'connection.opened');
    assert.equal(opened.client.transport, 'unix');
    assert.equal(opened.client.uid, process.getuid!());
    assert.ok(Number.isInteger(opened.client.pid) && opened.client.pid !== s.child.pid, 'the peer is psql, not the broker');
  });

  test('without -f and with no config anywhere, it creates the user config with a commented example', async () => {
    const home = mkdtempSync(join(dir, 'home-'));
    const child = spawn(process.execPath, [CLI, 'serve'], { cwd: home, env: { ...clientEnv(), XDG_CONFIG_HOME: join(home, 'cfg'), XDG_STATE_HOME: join(home, 'state') } });
    let out = '';
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const path = join(home, 'cfg', 'secretless-desktop', 'secretless.yml');
    await waitFor(() => `ready; output:\n${out}`, () => /INFO  ready/.test(out) || child.exitCode !== null);
    // With no services it must still be serving (waiting for a reload), not exit by itself:
    // it answers a SIGHUP with a reload.
    child.kill('SIGHUP');
    await waitFor(() => `the reload; output:\n${out}`, () => /config reloaded/.test(out) || child.exitCode !== null);
    assert.equal(child.exitCode, null, 'serve exited with no services');
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
    assert.match(out, /created an example config/);
    const text = readFileSync(path, 'utf8');
    assert.match(text, /^version: "2"$/m);
    assert.match(text, /^# +my-postgres:$/m);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.ok(statSync(join(home, 'state', 'secretless-desktop', 'audit.jsonl')).isFile(), 'audit log at the default path');
  });

  test('an invalid config file fails at start with every problem and its line', async () => {
    const cfg = join(dir, 'bad.yml');
    writeFileSync(
      cfg,
      `version: "2"
services:
  one:
    connector: pg
    listenOn: tcp://0.0.0.0:5432
    credentials:
      host: localhost
  two:
    connector: nosuch
    listenOn: tcp://127.0.0.1:5433
    credentials:
      password: { from: vaultish, get: x }
`,
    );
    const r = await run(process.execPath, [CLI, 'serve', '-f', cfg], { env: { ...clientEnv(), XDG_STATE_HOME: join(dir, 'state') } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /line 5: services\.one\.listenOn: .*allowRemote/);
    assert.match(r.stderr, /services\.one\.credentials.*username/);
    assert.match(r.stderr, /line 9: services\.two\.connector/);
    assert.match(r.stderr, /line 12: services\.two\.credentials\.password\.from/);
    const check = await run(process.execPath, [CLI, 'check', '-f', cfg], { env: clientEnv() });
    assert.equal(check.code, 2);
    assert.match(check.stderr, /4 configuration errors|configuration errors/);
  });
});
