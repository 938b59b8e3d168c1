// A real application API through both modes: RabbitMQ's management HTTP API (basic auth)
// from a throwaway rabbitmq-server, called with curl through the reverse proxy (`http`
// with `upstream:`) and as a forward proxy (`basic_auth`, `curl -x`), never with the password.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { startRabbitMq, type RabbitMq } from '../fixtures/rabbitmq.js';

const run = promisify(execFile);
const PASSWORD = 'rabbit-admin-pw-51c0e2';
let dir: string;
let rmq: RabbitMq;
let tb: TestBroker;
const outputs: string[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sd-rabbit-'));
  rmq = await startRabbitMq(join(dir, 'rabbit'), 'sdadmin', PASSWORD);
  tb = await startTestBroker(
    `version: "2"
services:
  rabbit:
    connector: http
    listenOn: tcp://127.0.0.1:0
    credentials: { username: sdadmin, password: { from: env, get: RMQ_PW } }
    config: { upstream: "${rmq.managementUrl}/api" }
  rabbit-proxy:
    connector: basic_auth
    listenOn: tcp://127.0.0.1:0
    credentials: { username: sdadmin, password: { from: env, get: RMQ_PW } }
    config:
      authenticateURLsMatching: ['^http://127\\.0\\.0\\.1:${rmq.managementPort}/api/']
`,
    { env: { RMQ_PW: PASSWORD } },
  );
}, { timeout: 300_000 });

after(async () => {
  await tb?.stop();
  await rmq?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function curl(args: string[]): Promise<string> {
  const { stdout, stderr } = await run('curl', ['-sS', '--fail-with-body', '--max-time', '60', ...args]);
  outputs.push(stdout, stderr);
  return stdout;
}

test('reverse proxy: whoami, create a vhost and list it, with no credentials in the client', async () => {
  const { host, port } = tb.tcp('rabbit');
  const base = `http://${host}:${port}`;
  assert.equal((JSON.parse(await curl([`${base}/whoami`])) as { name: string }).name, 'sdadmin');
  await curl(['-X', 'PUT', `${base}/vhosts/through-broker`]);
  const vhosts = JSON.parse(await curl([`${base}/vhosts`])) as { name: string }[];
  assert.ok(vhosts.some((v) => v.name === 'through-broker'));
  // Without the broker the API refuses.
  const direct = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${rmq.managementUrl}/api/whoami`]);
  assert.equal(direct.stdout, '401');
});

test('forward proxy: curl -x reaches the management API authenticated; other URLs are refused', async () => {
  const { host, port } = tb.tcp('rabbit-proxy');
  const proxy = `http://${host}:${port}`;
  const overview = JSON.parse(await curl(['-x', proxy, `${rmq.managementUrl}/api/overview`])) as { rabbitmq_version: string };
  assert.match(overview.rabbitmq_version, /^\d+\.\d+/);
  const refused = await run('curl', ['-s', '-x', proxy, '-w', '\n%{http_code}', `${rmq.managementUrl}/`]);
  outputs.push(refused.stdout);
  assert.match(refused.stdout, /403$/);
});

test('the password appears in no log, audit record or output', () => {
  const all = tb.output() + outputs.join('\n');
  assert.ok(!all.includes(PASSWORD));
  assert.ok(!all.includes(Buffer.from(`sdadmin:${PASSWORD}`).toString('base64')));
});
