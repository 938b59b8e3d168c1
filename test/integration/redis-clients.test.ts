// The redis connector with the clients people use: ioredis and node-redis in RESP2 and
// RESP3 (pipelines, pub/sub, transactions, client-side caching invalidations), over TCP
// and the Unix socket listener, redis-cli --pipe mass insertion of 1M commands, and
// redis-benchmark; all against a real redis-server with an ACL user, no password in
// any client configuration, and every output searched for the passwords at the end.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { startRedis, type RedisServer } from '../fixtures/redis-server.js';
import { run } from '../fixtures/run.js';

let server: RedisServer;
let tb: TestBroker;
let dir: string;
const clientOutput: string[] = [];

before(async () => {
  server = await startRedis({ auth: 'acl' });
  dir = mkdtempSync(join(tmpdir(), 'sl-redis-clients-'));
  const creds = (host: string, user?: string, pw = 'PW_APP') =>
    `    credentials:\n      host: ${JSON.stringify(host)}\n      port: ${server.port}\n${user ? `      username: ${user}\n` : ''}      password: { from: env, get: ${pw} }\n      sslmode: disable\n`;
  tb = await startTestBroker(
    `version: "2"
services:
  app:
    connector: redis
    listenOn: tcp://127.0.0.1:0
${creds('127.0.0.1', 'app')}
  app-unix:
    connector: redis
    listenOn: unix://${dir}/app.sock
${creds(server.socket, 'app')}
  bench:
    connector: redis
    listenOn: tcp://127.0.0.1:0
${creds('127.0.0.1', undefined, 'PW_DEFAULT')}
`,
    { env: { PW_APP: server.app.password, PW_DEFAULT: server.defaultPassword } },
  );
});

after(async () => {
  await tb?.stop();
  await server?.stop();
});

const port = () => tb.tcp('app').port;

/** Resolves with the first value `on` delivers. */
function next<T>(on: (cb: (v: T) => void) => void): Promise<T> {
  return new Promise((resolve) => on(resolve));
}

for (const protocol of [2, 3] as const) {
  describe(`ioredis, RESP${protocol}`, () => {
    test('no password configured; pipelines, MULTI/EXEC, EVAL, pub/sub', async () => {
      const redis = new Redis({ port: port(), host: '127.0.0.1', protocol, lazyConnect: true, maxRetriesPerRequest: 0 });
      const sub = new Redis({ port: port(), host: '127.0.0.1', protocol, lazyConnect: true, maxRetriesPerRequest: 0 });
      try {
        await redis.connect();
        assert.equal(await redis.call('ACL', 'WHOAMI'), 'app');
        assert.match(String(await redis.call('CLIENT', 'INFO')), new RegExp(`user=app .*resp=${protocol}`), 'the protocol the client chose');
        const pipe = redis.pipeline();
        for (let k = 0; k < 1000; k++) pipe.set(`app:io${protocol}:${k}`, String(k));
        for (let k = 0; k < 1000; k++) pipe.get(`app:io${protocol}:${k}`);
        const results = (await pipe.exec())!;
        assert.equal(results.length, 2000);
        assert.deepEqual(results.slice(1000).map(([, v]) => v), Array.from({ length: 1000 }, (_, k) => String(k)));
        const tx = await redis.multi().incr(`app:tx${protocol}`).incr(`app:tx${protocol}`).exec();
        assert.deepEqual(tx!.map(([, v]) => v), [1, 2]);
        assert.equal(await redis.eval('return redis.call("GET", KEYS[1])', 1, `app:io${protocol}:7`), '7');

        await sub.connect();
        const message = next<[string, string]>((cb) => sub.on('message', (ch: string, msg: string) => cb([ch, msg])));
        await sub.subscribe(`app:chan${protocol}`);
        assert.equal(await redis.publish(`app:chan${protocol}`, 'hi'), 1);
        assert.deepEqual(await message, [`app:chan${protocol}`, 'hi']);
        // A client that was configured with a password anyway: its AUTH is answered by the broker.
        assert.equal(await redis.call('AUTH', 'app', 'not-the-password'), 'OK');
        assert.equal(await redis.call('ACL', 'WHOAMI'), 'app');
      } finally {
        redis.disconnect();
        sub.disconnect();
      }
    });
  });

  describe(`node-redis, RESP${protocol}`, () => {
    test('pipelines (auto and explicit), transactions, pub/sub over the Unix socket listener', async () => {
      const client = createClient({ socket: { path: join(dir, 'app.sock'), tls: false }, RESP: protocol });
      const sub = client.duplicate();
      client.on('error', (e: Error) => clientOutput.push(e.message));
      sub.on('error', (e: Error) => clientOutput.push(e.message));
      await Promise.all([client.connect(), sub.connect()]);
      try {
        assert.equal(await client.sendCommand(['ACL', 'WHOAMI']), 'app');
        assert.match(String(await client.sendCommand(['CLIENT', 'INFO'])), new RegExp(`user=app .*resp=${protocol}`));
        const replies = await Promise.all(Array.from({ length: 500 }, (_, k) => client.incr(`app:nr${protocol}`)));
        assert.deepEqual(replies, Array.from({ length: 500 }, (_, k) => k + 1));
        const tx = await client.multi().set(`app:nrtx${protocol}`, 'a').append(`app:nrtx${protocol}`, 'b').get(`app:nrtx${protocol}`).exec();
        assert.deepEqual(tx, ['OK', 2, 'ab']);
        const got = new Promise<string>((resolve) => void sub.subscribe(`app:nrchan${protocol}`, (m: string) => resolve(m)));
        while ((await client.publish(`app:nrchan${protocol}`, 'ping')) === 0) await new Promise((r) => setImmediate(r));
        assert.equal(await got, 'ping');
      } finally {
        await Promise.all([client.close(), sub.close()]);
      }
    });
  });
}

test('client-side caching: CLIENT TRACKING invalidations arrive as RESP3 push messages (node-redis)', async () => {
  const tracked = createClient({ socket: { port: port(), host: '127.0.0.1' }, RESP: 3, emitInvalidate: true });
  const writer = createClient({ socket: { port: port(), host: '127.0.0.1' }, RESP: 3 });
  await Promise.all([tracked.connect(), writer.connect()]);
  try {
    await writer.set('app:cached', 'v1');
    assert.equal(await tracked.get('app:cached'), 'v1');
    const invalidated = next<string>((cb) => tracked.on('invalidate', (key: Buffer | string) => cb(key.toString())));
    await writer.set('app:cached', 'v2');
    assert.equal(await invalidated, 'app:cached');
  } finally {
    await Promise.all([tracked.close(), writer.close()]);
  }
});

test('redis-cli --pipe: 1 000 000 commands mass-inserted through the broker, none lost', async () => {
  const lines: string[] = [];
  for (let k = 0; k < 1_000_000; k++) lines.push(`*3\r\n$3\r\nSET\r\n$${`app:m:${k}`.length}\r\napp:m:${k}\r\n$1\r\nv\r\n`);
  const r = await run('redis-cli', ['-p', String(port()), '--pipe'], { input: lines.join(''), timeoutMs: 280_000, env: { PATH: process.env.PATH } });
  clientOutput.push(r.stdout, r.stderr);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /errors: 0, replies: 1000000/);
  assert.equal((await server.cli(['EVAL', "return #redis.call('KEYS', 'app:m:*')", '0'])).stdout.trim(), '1000000');
  await server.cli(['FLUSHALL']);
});

test('redis-benchmark through the broker: GET/SET, pipelined and not, every request answered', async () => {
  for (const extra of [[], ['-P', '16']]) {
    const r = await run('redis-benchmark', ['-p', String(tb.tcp('bench').port), '-t', 'set,get', '-n', '20000', '-c', '10', '-q', ...extra], { timeoutMs: 120_000, env: { PATH: process.env.PATH } });
    clientOutput.push(r.stdout, r.stderr);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /SET: [\d.]+ requests per second/);
    assert.match(r.stdout, /GET: [\d.]+ requests per second/);
    assert.doesNotMatch(r.stdout + r.stderr, /error|NOAUTH|WRONGPASS/i);
  }
});

test('no password in any client output, log line or audit record', () => {
  const everything = clientOutput.join('\n') + tb.output();
  for (const secret of server.secrets()) assert.ok(!everything.includes(secret), 'a secret leaked');
});
