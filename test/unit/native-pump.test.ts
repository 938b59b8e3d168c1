// The native data pump (broker/native/pump.c) through splice(), on real loopback TCP
// sockets: it is built and used on Linux, moves every byte (Node's sockets read none),
// holds a slow reader's bytes without losing any, ends on an abort, and runs the Redis
// and MySQL filter prechecks so JS sees only the reads they cannot pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import net, { type AddressInfo, type Socket } from 'node:net';
import { availableParallelism, cpus } from 'node:os';
import { nativePumpStatus } from '../../broker/net/native-pump.js';
import { splice, type ChunkFilter, type SpliceResult } from '../../broker/splice.js';
import { createCommandScanner } from '../../broker/connectors/redis/command-scanner.js';
import { createCommandFilter } from '../../broker/connectors/mysql/command-filter.js';
import { waitFor } from '../fixtures/wait-for.js';

async function socketPair(): Promise<[Socket, Socket]> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = net.connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1' });
  await once(client, 'connect');
  const [serverSide] = await accepted;
  server.close();
  return [client, serverSide];
}

/** app <-> brokerClient (spliced) brokerUpstream <-> server. */
async function chain() {
  const [app, brokerClient] = await socketPair();
  const [brokerUpstream, server] = await socketPair();
  for (const s of [app, server]) s.on('error', () => {});
  return { app, brokerClient, brokerUpstream, server, all: [app, brokerClient, brokerUpstream, server] };
}

/** The app hangs up, the server sees it and hangs up too: the splice's result. */
async function hangUp(s: Awaited<ReturnType<typeof chain>>, done: Promise<SpliceResult>): Promise<SpliceResult> {
  s.app.end();
  await once(s.server, 'end');
  s.server.end();
  return done;
}

function collect(socket: Socket, total: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      chunks.push(d);
      n += d.length;
      if (n >= total) {
        socket.off('data', onData);
        resolve(Buffer.concat(chunks));
      }
    };
    socket.on('data', onData);
    socket.once('close', () => (n < total ? reject(new Error(`closed after ${n} of ${total} bytes`)) : undefined));
  });
}

const NONE = { toUpstream: Buffer.alloc(0), toClient: Buffer.alloc(0) };

test('the native pump is built and loaded on Linux (scripts/build-native.sh), one thread per CPU up to four; elsewhere the broker says why not', () => {
  const status = nativePumpStatus();
  if (process.platform !== 'linux') return assert.equal(status.loaded, false);
  assert.ok(status.loaded, `the native pump did not load: ${JSON.stringify(status)}`);
  // The CPUs the process may use (its affinity; Node may also count a cgroup quota), at most four.
  assert.ok(status.threads >= Math.min(4, availableParallelism()) && status.threads <= Math.min(4, cpus().length), `${status.threads} pump threads`);
});

test('connections spread over the pump threads each get exactly their own bytes, both ways, at once', async () => {
  const chains = await Promise.all(Array.from({ length: 8 }, () => chain()));
  try {
    const runs = chains.map(async (s, i) => {
      const done = splice(s.brokerClient, s.brokerUpstream, NONE);
      const up = Buffer.concat([Buffer.from(`up ${i};`), randomBytes(512 * 1024)]);
      const down = Buffer.concat([Buffer.from(`down ${i};`), randomBytes(512 * 1024)]);
      const atServer = collect(s.server, up.length);
      const atApp = collect(s.app, down.length);
      s.app.write(up);
      s.server.write(down);
      assert.ok((await atServer).equals(up), `connection ${i}: the server got another connection's bytes or lost some`);
      assert.ok((await atApp).equals(down), `connection ${i}: the app got another connection's bytes or lost some`);
      const result = await hangUp(s, done);
      assert.deepEqual([result.bytesFromClient, result.bytesToClient], [up.length, down.length]);
    });
    await Promise.all(runs);
  } finally {
    for (const s of chains) for (const x of s.all) x.destroy();
  }
});

test('the pump moves every byte both ways while Node reads none of them; the counts include what it moved', async () => {
  const s = await chain();
  try {
    const before = { client: s.brokerClient.bytesRead, upstream: s.brokerUpstream.bytesRead };
    const done = splice(s.brokerClient, s.brokerUpstream, { toUpstream: Buffer.from('first;'), toClient: Buffer.from('hello;') });
    const up = randomBytes(3 * 1024 * 1024);
    const down = randomBytes(3 * 1024 * 1024);
    const atServer = collect(s.server, 6 + up.length);
    const atApp = collect(s.app, 6 + down.length);
    s.app.write(up);
    s.server.write(down);
    assert.ok((await atServer).equals(Buffer.concat([Buffer.from('first;'), up])));
    assert.ok((await atApp).equals(Buffer.concat([Buffer.from('hello;'), down])));
    assert.deepEqual({ client: s.brokerClient.bytesRead, upstream: s.brokerUpstream.bytesRead }, before, 'Node read nothing: the pump did');
    const result = await hangUp(s, done);
    assert.equal(result.bytesFromClient, up.length);
    assert.equal(result.bytesToClient, 6 + down.length);
    assert.ok(s.brokerClient.destroyed && s.brokerUpstream.destroyed);
  } finally {
    for (const x of s.all) x.destroy();
  }
});

test('a client that stops reading: the pump holds what it cannot write, reads on only once it is taken, and loses nothing', async () => {
  const s = await chain();
  try {
    s.app.pause();
    const done = splice(s.brokerClient, s.brokerUpstream, NONE);
    const blocks = Array.from({ length: 300 }, (_, i) => Buffer.alloc(64 * 1024, i % 251));
    const sent = Buffer.concat(blocks);
    let drained = true;
    for (const b of blocks) drained = s.server.write(b);
    // The server's writes back up: the pump stopped reading from it.
    assert.equal(drained, false);
    await waitFor('the server to see backpressure', () => s.server.writableLength > 0);
    const atApp = collect(s.app, sent.length);
    s.app.resume();
    assert.ok((await atApp).equals(sent), 'every byte, in order');
    s.server.end();
    await once(s.app, 'end');
    s.app.end();
    await done;
  } finally {
    for (const x of s.all) x.destroy();
  }
});

test('destroying a spliced socket (the broker aborting the connection) ends both sides through the pump', async () => {
  const s = await chain();
  try {
    const done = splice(s.brokerClient, s.brokerUpstream, NONE);
    const appClosed = once(s.app, 'close');
    const serverEnded = once(s.server, 'end');
    s.brokerClient.destroy();
    await Promise.all([appClosed, serverEnded]);
    await done;
    assert.ok(s.brokerClient.destroyed && s.brokerUpstream.destroyed);
  } finally {
    for (const x of s.all) x.destroy();
  }
});

/** A filter with the native precheck, counting what JS is asked to look at. */
function counted<T extends ChunkFilter>(filter: T): { filter: T; jsReads: Buffer[] } {
  const jsReads: Buffer[] = [];
  const wrapped = Object.assign((chunk: Buffer) => (jsReads.push(Buffer.from(chunk)), filter(chunk)), { native: filter.native });
  return { filter: wrapped as T, jsReads };
}

const resp = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

test('Redis: reads of plain commands pass in C; AUTH and commands cut across reads go to the JS scanner, in order', async () => {
  const s = await chain();
  try {
    const scanner = createCommandScanner({ rewrite: (args) => (args[0]!.toString().toUpperCase() === 'AUTH' ? Buffer.from(resp('AUTH', 'broker-user', 'broker-pw')) : null) });
    const { filter, jsReads } = counted(Object.assign((c: Buffer) => scanner.push(c), { native: { kind: 'redis' as const, idle: () => scanner.idle() } }));
    const done = splice(s.brokerClient, s.brokerUpstream, NONE, filter);
    const plain = resp('SET', 'k', 'v') + resp('GET', 'k');
    const expected = [plain, resp('AUTH', 'broker-user', 'broker-pw') + resp('PING'), resp('ECHO', 'cut-in-two'), plain].join('');
    const atServer = collect(s.server, Buffer.byteLength(expected));
    const send = async (text: string) => {
      s.app.write(text);
      await waitFor('the pump to pass it', () => s.server.readableLength > 0 || s.server.bytesRead > 0);
      await new Promise((r) => setTimeout(r, 30));
    };
    await send(plain);
    assert.equal(jsReads.length, 0, 'plain commands never reach JS');
    await send(resp('AUTH', 'someone', 'guess') + resp('PING'));
    const echo = resp('ECHO', 'cut-in-two');
    await send(echo.slice(0, 7));
    await send(echo.slice(7));
    const jsBefore = jsReads.length;
    await send(plain);
    assert.equal(jsReads.length, jsBefore, 'after the cut command the scanner is idle again: plain reads pass in C');
    assert.equal((await atServer).toString(), expected);
    assert.ok(jsReads.some((r) => r.toString().includes('AUTH')), 'the AUTH read went to JS');
    assert.ok(!jsReads.some((r) => r.toString().includes('broker-pw')));
    await hangUp(s, done);
  } finally {
    for (const x of s.all) x.destroy();
  }
});

const packet = (seq: number, payload: Buffer) => Buffer.concat([Buffer.from([payload.length & 0xff, (payload.length >> 8) & 0xff, payload.length >> 16, seq]), payload]);

test('MySQL: whole command packets pass in C; COM_CHANGE_USER goes to the JS filter, which drops it', async () => {
  const s = await chain();
  try {
    const check = createCommandFilter();
    const { filter, jsReads } = counted(Object.assign((c: Buffer) => check.push(c).forward, { native: { kind: 'mysql' as const, idle: () => check.idle() } }));
    const done = splice(s.brokerClient, s.brokerUpstream, NONE, filter);
    const query = packet(0, Buffer.concat([Buffer.from([0x03]), Buffer.from('SELECT 1')]));
    const changeUser = packet(0, Buffer.concat([Buffer.from([0x11]), Buffer.from('other\0')]));
    const atServer = collect(s.server, query.length * 3);
    s.app.write(query);
    await waitFor('the first query', () => s.server.bytesRead >= query.length);
    assert.equal(jsReads.length, 0);
    s.app.write(Buffer.concat([changeUser, query]));
    await waitFor('the second query', () => s.server.bytesRead >= 2 * query.length);
    assert.equal(jsReads.length, 1, 'the read with COM_CHANGE_USER went to JS');
    s.app.write(query);
    assert.ok((await atServer).equals(Buffer.concat([query, query, query])), 'COM_CHANGE_USER never reached the server');
    assert.equal(jsReads.length, 1);
    await hangUp(s, done);
  } finally {
    for (const x of s.all) x.destroy();
  }
});
