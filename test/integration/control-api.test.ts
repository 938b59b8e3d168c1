// The control API in front of a real broker and a real PostgreSQL: who gets in (token,
// Host, Origin), what the page is served with (CSP), the BrokerApi through the HTTP
// client (start/stop, live events while psql connects, a target added with its password
// stored in the real OS keychain), and no secret in anything it answers or writes.
// Run under scripts/with-keyring.sh (npm test does) for the keychain part.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AsyncEntry } from '@napi-rs/keyring';
import type { BrokerApi, BrokerEvent } from '../../broker/api.js';
import { createBrokerApi, type BrokerApiService } from '../../broker/api-service.js';
import { createMemoryAudit, type MemoryAudit } from '../../broker/audit/memory-audit.js';
import { createBroker, type Broker } from '../../broker/broker.js';
import { loadConfig } from '../../broker/config/load.js';
import { builtinConnectors, connectorSpecs } from '../../broker/connectors/registry.js';
import { createHttpBrokerApi } from '../../broker/control/http-client.js';
import { startControlServer, type ControlServer } from '../../broker/control/server.js';
import { RENDERER_DIR } from '../../broker/control/ui.js';
import { createProviderRegistry, defaultProviders } from '../../broker/credentials/registry.js';
import { createResolver } from '../../broker/credentials/resolver.js';
import { createLogger } from '../../broker/log.js';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { psql, run } from '../fixtures/run.js';
import { waitFor } from '../fixtures/wait-for.js';

let cluster: PgCluster;
let dir: string;
/** Event streams the client has opened (its onConnection 'connected'). */
let eventStreams = 0;
let broker: Broker;
let audit: MemoryAudit;
let api: BrokerApiService;
let server: ControlServer;
let client: BrokerApi;
const logs: string[] = [];
/** Every body the server sent back, for the secret check. */
const answers: string[] = [];
const keychainService = `secretless-ctl-${randomBytes(4).toString('hex')}`;

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function raw(path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const headers = { Host: `127.0.0.1:${server.port}`, ...opts.headers };
    // An empty Host means "send none" (node would otherwise fill in its own).
    const noHost = headers.Host === '';
    if (noHost) delete (headers as Record<string, string | undefined>).Host;
    const req = request({ host: '127.0.0.1', port: server.port, path, method: opts.method ?? 'GET', headers, setHost: !noHost }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => {
        answers.push(body);
        resolve({ status: res.statusCode!, headers: res.headers, body });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const auth = () => ({ Authorization: `Bearer ${server.token}` });
const callBody = (args: unknown[] = []) => ({ method: 'POST', headers: { ...auth(), 'Content-Type': 'application/json' }, body: JSON.stringify({ args }) });

before(async () => {
  cluster = await startPgCluster();
  dir = mkdtempSync(join(tmpdir(), 'sd-ctl-'));
  const configPath = join(dir, 'secretless.yml');
  writeFileSync(
    configPath,
    `# headless broker for the control API test
version: "2"
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
  const logger = createLogger({ level: 'debug', format: 'json', write: (l) => void logs.push(l) });
  audit = createMemoryAudit();
  const registry = createProviderRegistry(defaultProviders({ env: { APP_DB_PW: cluster.users.scram.password } }));
  const connectors = builtinConnectors();
  const parse = { connectors: connectorSpecs(connectors), providers: registry.names() };
  broker = createBroker({ logger, audit, resolver: createResolver({ registry, audit, logger }), connectors, drainMs: 500, stateDir: dir });
  const reload = async () => broker.apply(await loadConfig(configPath, parse));
  await reload();
  api = createBrokerApi({ broker, audit, configPath, parse, reload, stateFile: join(dir, 'targets.json') });
  server = await startControlServer({ api, staticDir: RENDERER_DIR, logger, heartbeatMs: 200 });
  client = createHttpBrokerApi({
    baseUrl: server.url,
    token: server.token,
    onConnection: (state) => void (state === 'connected' && eventStreams++),
    // Record what the client receives, too.
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      if (String(input).endsWith('/api/events')) return res;
      const text = await res.text();
      answers.push(text);
      return new Response(text, { status: res.status, headers: res.headers });
    },
  });
});

after(async () => {
  api?.close();
  await server?.close();
  await broker?.stop({ drainMs: 0 });
  await cluster?.stop();
  await new AsyncEntry(keychainService, 'new-db', { linux: { store: 'secret-service' } }).deleteCredential().catch(() => {});
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('refused: no token, a wrong token, a token in the URL', async () => {
  for (const headers of <Record<string, string>[]>[{}, { Authorization: `Bearer ${'x'.repeat(server.token.length)}` }, { Authorization: `Bearer ${server.token}x` }, { Authorization: server.token }]) {
    const r = await raw('/api/call/listTargets', { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: '{}' });
    assert.equal(r.status, 401, JSON.stringify(headers));
    assert.equal(r.headers['www-authenticate'], 'Bearer');
    assert.ok(!r.body.includes('app-db'));
  }
  assert.equal((await raw(`/api/call/listTargets?token=${server.token}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })).status, 401);
  assert.equal((await raw('/api/events')).status, 401);
});

test('refused: a foreign Host (DNS rebinding), even with the token, for the API and the page', async () => {
  for (const host of ['evil.example', `evil.example:${server.port}`, `127.0.0.1:${server.port + 1}`, `127.0.0.1.nip.io:${server.port}`, '127.0.0.1', '']) {
    const r = await raw('/api/call/listTargets', { ...callBody(), headers: { ...callBody().headers, Host: host } });
    // No Host at all: node's HTTP/1.1 server answers 400 before we see the request.
    const refused = host === '' ? 400 : 403;
    assert.equal(r.status, refused, `Host: ${host}`);
    if (host) assert.match(r.body, /Host/);
    assert.equal((await raw('/', { headers: { Host: host } })).status, refused);
  }
});

test('refused: a foreign Origin (cross-site), even with the token', async () => {
  for (const origin of ['http://evil.example', `http://127.0.0.1:${server.port + 1}`, 'null', `https://127.0.0.1:${server.port}`, `http://localhost.evil.example:${server.port}`]) {
    const r = await raw('/api/call/stopTarget', { ...callBody(['app-db']), headers: { ...callBody().headers, Origin: origin } });
    assert.equal(r.status, 403, `Origin: ${origin}`);
  }
  assert.equal((await raw('/api/call/listTargets', { ...callBody(), headers: { ...callBody().headers, 'Sec-Fetch-Site': 'cross-site' } })).status, 403);
  assert.equal((await api.listTargets())[0]!.status.state, 'listening', 'nothing was stopped');
});

test('allowed: each loopback spelling of our own host and origin', async () => {
  for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, `[::1]:${server.port}`, `LOCALHOST:${server.port}`]) {
    const r = await raw('/api/call/listTargets', { ...callBody(), headers: { ...callBody().headers, Host: host, Origin: `http://${host.toLowerCase()}` } });
    assert.equal(r.status, 200, host);
    assert.equal((JSON.parse(r.body) as { result: { name: string }[] }).result[0]!.name, 'app-db');
  }
});

test('bad requests get clear errors', async () => {
  assert.equal((await raw('/api/call/listTargets', { headers: auth() })).status, 405);
  assert.equal((await raw('/api/call/listTargets', { method: 'POST', headers: { ...auth(), 'Content-Type': 'text/plain' }, body: '{}' })).status, 415);
  assert.equal((await raw('/api/call/deleteEverything', callBody())).status, 404);
  assert.equal((await raw('/api/call/subscribe', callBody())).status, 404);
  const bad = await raw('/api/call/startTarget', callBody([42]));
  assert.equal(bad.status, 400);
  assert.match(bad.body, /non-empty string/);
  assert.equal((await raw('/api/call/startTarget', callBody(['nope']))).status, 404);
  assert.equal((await raw('/api/call/listTargets', { method: 'POST', headers: { ...auth(), 'Content-Type': 'application/json' }, body: '{nope' })).status, 400);
});

test('a body over 1 MiB gets its 413, with a declared length and chunked, through node and curl', async () => {
  const big = 'x'.repeat(2 * 1024 * 1024);
  const declared = await raw('/api/call/listTargets', { method: 'POST', headers: { ...auth(), 'Content-Type': 'application/json' }, body: big });
  assert.equal(declared.status, 413);
  assert.match(declared.body, /larger than 1 MiB/);
  const chunked = await raw('/api/call/listTargets', { method: 'POST', headers: { ...auth(), 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' }, body: big });
  assert.equal(chunked.status, 413);
  const bodyFile = join(mkdtempSync(join(tmpdir(), 'sl-413-')), 'body.json');
  writeFileSync(bodyFile, big);
  for (const extra of [[], ['-H', 'Transfer-Encoding: chunked']]) {
    const r = await run('curl', ['-sS', '-o', '-', '-w', '\n%{http_code}', '-X', 'POST', '-H', `Authorization: ${auth().Authorization}`, '-H', 'Content-Type: application/json', ...extra,
      '--data-binary', `@${bodyFile}`, `http://127.0.0.1:${server.port}/api/call/listTargets`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /larger than 1 MiB[^]*\n413$/);
  }
  // The server still answers afterwards.
  assert.equal((await raw('/api/call/listTargets', callBody())).status, 200);
});

test('the page is served with a strict CSP; nothing outside the build is reachable', async () => {
  const page = await raw('/');
  assert.equal(page.status, 200);
  assert.match(page.body, /<div id="root">/);
  assert.match(String(page.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
  assert.equal(page.headers['x-frame-options'], 'DENY');
  const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(page.body)![1]!;
  const js = await raw(`/${script}`);
  assert.equal(js.status, 200);
  assert.match(String(js.headers['content-type']), /javascript/);
  for (const path of ['/../package.json', '/%2e%2e/package.json', '/assets/../../broker/cli.js', '/%2e%2e%2fpackage.json', '/%E0%A4%A']) {
    assert.equal((await raw(path)).status, 404, path);
  }
});

test('BrokerApi over HTTP: stop, start, live events while psql connects through the target', async () => {
  const events: BrokerEvent[] = [];
  const streamsBefore = eventStreams;
  const off = client.subscribe((e) => events.push(e));
  // The stream connects asynchronously; the server subscribes before it answers.
  await waitFor('the event stream', () => eventStreams > streamsBefore);
  const stopped = await client.stopTarget('app-db');
  assert.deepEqual(stopped.status, { state: 'stopped' });
  const started = await client.startTarget('app-db');
  assert.equal(started.status.state, 'listening');
  const address = started.status.state === 'listening' ? started.status.address : '';
  const [, host, port] = /^tcp:\/\/(.+):(\d+)$/.exec(address)!;
  const out = await psql(host!, Number(port), 'select current_user');
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout.trim(), cluster.users.scram.name);
  await waitFor('connection.closed event', () => events.some((e) => e.type === 'connection.closed'));
  assert.ok(events.some((e) => e.type === 'target.stopped' && e.name === 'app-db'));
  assert.ok(events.some((e) => e.type === 'target.started' && e.name === 'app-db'));
  assert.ok(events.some((e) => e.type === 'connection.opened' && e.name === 'app-db'));
  assert.ok(events.some((e) => e.type === 'audit' && e.record.type === 'connection.authenticated'));
  const recent = await client.recentAudit({ service: 'app-db', limit: 5 });
  assert.equal(recent[0]!.type, 'connection.closed', 'newest first');
  off();
});

test('saveTarget over HTTP: the password goes to the OS keychain, the file holds the reference, psql connects', async () => {
  const secret = cluster.users.md5.password;
  const saved = await client.saveTarget({
    name: 'new-db',
    connector: 'pg',
    listenOn: 'tcp://127.0.0.1:0',
    credentials: {
      host: { literal: '127.0.0.1' },
      port: { literal: String(cluster.port) },
      username: { literal: cluster.users.md5.name },
      password: { from: 'keychain', get: `${keychainService}#new-db` },
      sslmode: { literal: 'disable' },
    },
    keychainValues: { password: secret },
  });
  assert.equal(saved.status.state, 'listening');
  const config = readFileSync(join(dir, 'secretless.yml'), 'utf8');
  assert.match(config, /^# headless broker for the control API test\n/);
  assert.match(config, new RegExp(`from: keychain\\n        get: ${keychainService}#new-db`));
  const address = saved.status.state === 'listening' ? saved.status.address : '';
  const [, host, port] = /^tcp:\/\/(.+):(\d+)$/.exec(address)!;
  const out = await psql(host!, Number(port), 'select current_user');
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout.trim(), cluster.users.md5.name);
  // A literal password is refused with a 400 naming the rule.
  const refused = await raw('/api/call/saveTarget', callBody([{ name: 'leaky', connector: 'pg', listenOn: 'tcp://127.0.0.1:0', credentials: { password: { literal: secret } } }]));
  assert.equal(refused.status, 400);
  assert.match(refused.body, /'password' is a secret/);
});

test('no secret in any answer, the config file, the audit records or the logs', async () => {
  const files = readFileSync(join(dir, 'secretless.yml'), 'utf8') + readFileSync(join(dir, 'targets.json'), 'utf8');
  const everything = answers.join('\n') + files + JSON.stringify(audit.records) + logs.join('');
  assert.ok(answers.length > 20);
  for (const secret of [cluster.users.scram.password, cluster.users.md5.password]) {
    assert.ok(!everything.includes(secret), 'a password leaked');
  }
  assert.ok(!logs.join('').includes(server.token), 'the control token is not logged');
});
