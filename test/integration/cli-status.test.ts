// `secretless-desktop status | start | stop | audit [--follow]` against a real
// `serve --ui` process and a real PostgreSQL: the CLI finds the broker through the 0600
// control file, a stop refuses psql and survives a restart of the broker, audit --follow
// shows connections as they happen, and nothing prints a secret.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { createHttpBrokerApi } from '../../broker/control/http-client.js';
import { clientEnv, psql, run } from '../fixtures/run.js';
import { waitFor } from '../fixtures/wait-for.js';
import { CLI, startServe, type ServeProcess } from '../fixtures/serve.js';

let cluster: PgCluster;
let dir: string;
let configPath: string;
const outputs: string[] = [];
const running = new Set<ChildProcess>();

const env = () => ({ ...clientEnv(), XDG_STATE_HOME: join(dir, 'state'), XDG_CONFIG_HOME: join(dir, 'config'), APP_DB_PW: cluster.users.scram.password });
const controlFile = () => join(dir, 'state', 'secretless-desktop', 'control.json');

async function cli(...args: string[]) {
  const r = await run(process.execPath, [CLI, ...args], { env: env(), timeoutMs: 30_000 });
  outputs.push(r.stdout, r.stderr);
  return r;
}

async function serve(): Promise<ServeProcess> {
  const s = startServe(['--ui', '-f', configPath, '--log-level', 'debug'], env());
  running.add(s.child);
  void s.exited.then(() => {
    running.delete(s.child);
    outputs.push(s.output());
  });
  await s.ready();
  return s;
}

before(async () => {
  cluster = await startPgCluster();
  dir = mkdtempSync(join(tmpdir(), 'sd-cli-'));
  configPath = join(dir, 'secretless.yml');
  writeFileSync(
    configPath,
    `version: "2"
services:
  app-db:
    connector: pg
    listenOn: tcp://127.0.0.1:0
    credentials:
      host: 127.0.0.1
      port: ${cluster.port}
      username: ${cluster.users.scram.name}
      password:
        from: env
        get: APP_DB_PW
      sslmode: disable
`,
  );
});

after(async () => {
  for (const c of running) c.kill('SIGKILL');
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const addressOf = (status: string): { host: string; port: number } => {
  const m = /app-db\s+pg\s+\S+\s+\S+\s+tcp:\/\/(127\.0\.0\.1):(\d+)/.exec(status);
  if (!m) throw new Error(`no address in:\n${status}`);
  return { host: m[1]!, port: Number(m[2]) };
};

test('without a running broker the commands say how to start one', async () => {
  const r = await cli('status');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no running broker found .*control\.json does not exist.*secretless-desktop serve --ui/);
  const usage = await cli('start');
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /usage: secretless-desktop start NAME/);
});

test('status, stop (psql refused, kept across a restart), start, audit', async () => {
  let broker = await serve();
  assert.match(broker.output(), /Open the Secretless Desktop UI: http:\/\/127\.0\.0\.1:\d+\/#token=[A-Za-z0-9_-]{43}\n/);
  assert.equal(statSync(controlFile()).mode & 0o777, 0o600);

  const status = await cli('status');
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^NAME\s+PROTOCOL\s+STATE\s+HEALTH\s+ADDRESS\s+CREDENTIAL EXPIRES\napp-db\s+pg\s+listening\s+listening\s+tcp:\/\/127\.0\.0\.1:\d+\s+-\n$/);
  const first = addressOf(status.stdout);
  const ok = await psql(first.host, first.port, 'select current_user');
  assert.equal(ok.code, 0, ok.stderr);
  // Health follows what happened: the login just made.
  assert.match((await cli('status')).stdout, /app-db\s+pg\s+listening\s+ok\s+tcp:/);
  const tested = await cli('test', 'app-db');
  assert.equal(tested.code, 0, tested.stderr);
  assert.match(tested.stdout, new RegExp(`^app-db: ok, logged in to 127\\.0\\.0\\.1:${cluster.port} in \\d+ ms\n$`));

  const stop = await cli('stop', 'app-db');
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(stop.stdout, 'app-db: stopped\n');
  const refused = await psql(first.host, first.port, 'select 1');
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /Connection refused|could not connect/);
  assert.match((await cli('status')).stdout, /app-db\s+pg\s+stopped\s+stopped\s+tcp:\/\/127\.0\.0\.1:0\s+-/);

  // The stop is remembered: a new broker keeps the target stopped.
  assert.equal(await broker.stop(), 0);
  assert.ok(!existsSync(controlFile()), 'the control file is removed on exit');
  broker = await serve();
  assert.match((await cli('status')).stdout, /app-db\s+pg\s+stopped/);

  const start = await cli('start', 'app-db');
  assert.equal(start.code, 0, start.stderr);
  assert.match(start.stdout, /^app-db: listening on tcp:\/\/127\.0\.0\.1:\d+\n$/);
  const again = addressOf((await cli('status')).stdout);
  const ok2 = await psql(again.host, again.port, 'select current_user');
  assert.equal(ok2.code, 0, ok2.stderr);
  assert.equal(ok2.stdout.trim(), cluster.users.scram.name);

  const unknown = await cli('start', 'nope');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no target named 'nope'/);

  const audit = await cli('audit', '--service', 'app-db');
  assert.equal(audit.code, 0, audit.stderr);
  const lines = audit.stdout.trim().split('\n');
  assert.match(lines[0]!, /service\.started\s+app-db/, 'oldest first, like a log');
  assert.match(audit.stdout, /connection\.authenticated\s+app-db\s+connectionId=\S+ target=127\.0\.0\.1:\d+/);
  assert.match(lines.at(-1)!, /connection\.closed\s+app-db/);
  const failed = await cli('audit', '--outcome', 'failed');
  assert.equal(failed.stdout, '');
  const nosuch = await cli('audit', '--service', 'app-bd');
  assert.equal(nosuch.code, 2);
  assert.match(nosuch.stderr, /--service: no target named 'app-bd' \(did you mean 'app-db'\?\)/);
  const json = await cli('status', '--json');
  assert.equal((JSON.parse(json.stdout) as { targets: { name: string }[] }).targets[0]!.name, 'app-db');

  // audit --follow prints new records as they happen, and stops on SIGINT.
  const follow = spawn(process.execPath, [CLI, 'audit', '--follow', '--limit', '1'], { env: env() });
  running.add(follow);
  let followed = '';
  follow.stdout.on('data', (d) => (followed += d));
  follow.stderr.on('data', (d) => (followed += d));
  const followExit = new Promise<number | null>((r) => follow.on('exit', (code) => r(code)));
  // The backlog is printed once the event stream is up: no sleep needed before acting.
  await waitFor(() => `the backlog line; got: ${followed}`, () => followed.includes('\n'));
  const ok3 = await psql(again.host, again.port, 'select 1');
  assert.equal(ok3.code, 0, ok3.stderr);
  await waitFor(() => `connection records; got: ${followed}`, () => /connection\.closed\s+app-db/.test(followed));
  assert.match(followed, /connection\.opened\s+app-db\s+connectionId=\S+ client=\{"transport":"tcp"/);
  follow.kill('SIGINT');
  assert.equal(await followExit, 0);
  running.delete(follow);
  outputs.push(followed);

  // A follower ends, saying so, when the broker stops.
  const second = spawn(process.execPath, [CLI, 'audit', '--follow', '--limit', '1'], { env: env() });
  running.add(second);
  let secondOut = '';
  second.stdout.on('data', (d) => (secondOut += d));
  second.stderr.on('data', (d) => (secondOut += d));
  const secondExit = new Promise<number | null>((r) => second.on('exit', (code) => r(code)));
  await waitFor(() => `the backlog line; got: ${secondOut}`, () => secondOut.includes('\n'));
  assert.equal(await broker.stop(), 0);
  assert.equal(await secondExit, 1);
  running.delete(second);
  assert.match(secondOut, /secretless-desktop audit: the broker stopped\n$/);
  outputs.push(secondOut);
});

test('a restarted broker keeps the UI URL: an open page re-authenticates by itself; open prints it; --new-token replaces it', async () => {
  let broker = await serve();
  const url = /Open the Secretless Desktop UI: (http:\/\/127\.0\.0\.1:\d+)\/#token=([A-Za-z0-9_-]{43})/.exec(broker.output());
  assert.ok(url, broker.output());
  const [pageUrl, origin, token] = [url[0].slice('Open the Secretless Desktop UI: '.length), url[1]!, url[2]!];
  const opened = await cli('open', '--no-browser');
  assert.equal(opened.code, 0, opened.stderr);
  assert.equal(opened.stdout, `${pageUrl}\n`);
  const secretFile = join(dir, 'state', 'secretless-desktop', 'ui.json');
  assert.equal(statSync(secretFile).mode & 0o777, 0o600);

  // The page's client, as the renderer uses it: it reconnects by itself after the restart.
  const states: string[] = [];
  const page = createHttpBrokerApi({ baseUrl: origin, token, onConnection: (s) => states.push(s), reconnectMs: 100 });
  const off = page.subscribe(() => {});
  await waitFor(() => `the event stream; got ${states}`, () => states.includes('connected'));
  const before = await page.brokerInfo();
  assert.equal(broker.output().split('\n').filter((l) => l.includes(token)).length, 1);
  assert.equal(await broker.stop(), 0);
  broker = await serve();
  assert.match(broker.output(), new RegExp(`Open the Secretless Desktop UI: ${pageUrl.replace(/[.?+*()[\]]/g, '\\$&')}\n`), 'same port, same token');
  await waitFor(() => `a reconnected event stream; got ${states}`, () => states.filter((s) => s === 'connected').length >= 2);
  const afterRestart = await page.brokerInfo();
  assert.notEqual(afterRestart.instanceId, before.instanceId, 'the page can tell the broker restarted');
  assert.equal((await page.listTargets())[0]!.name, 'app-db');

  const rotated = await cli('open', '--no-browser', '--new-token');
  assert.equal(rotated.code, 0, rotated.stderr);
  const fresh = /#token=([A-Za-z0-9_-]{43})\n$/.exec(rotated.stdout)?.[1];
  assert.ok(fresh && fresh !== token);
  await assert.rejects(page.listTargets(), /this page's access token is not valid .*secretless-desktop open/);
  const renewed = createHttpBrokerApi({ baseUrl: origin, token: fresh });
  assert.equal((await renewed.brokerInfo()).instanceId, afterRestart.instanceId);
  assert.equal((await cli('status')).code, 0, 'the CLI follows the new token');

  // delete NAME removes the target from the config and the running broker.
  const deleted = await cli('delete', 'app-db');
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal(deleted.stdout, 'app-db: deleted from the config\n');
  assert.doesNotMatch(readFileSync(configPath, 'utf8'), /app-db/);
  await waitFor('app-db gone from status', async () => !/app-db/.test((await cli('status')).stdout));
  const gone = await cli('delete', 'app-db');
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, /app-db/);
  off();
  assert.equal(await broker.stop(), 0);
  outputs.push(rotated.stdout);
});

test('nothing the CLI or the broker printed contains the password or the control token', () => {
  const all = outputs.join('\n');
  assert.ok(all.length > 500);
  assert.ok(!all.includes(cluster.users.scram.password));
  // The token appears only in the URL lines the broker and `open` print.
  const printed = [...all.matchAll(/#token=([A-Za-z0-9_-]+)/g)].map((m) => m[1]!);
  assert.ok(printed.length >= 2);
  for (const t of new Set(printed)) assert.equal(all.split(t).length - 1, printed.filter((p) => p === t).length);
  assert.ok(!readFileSync(join(dir, 'state', 'secretless-desktop', 'audit.jsonl'), 'utf8').includes(cluster.users.scram.password));
});
