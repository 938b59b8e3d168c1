// The handshake-phase socket reader and the data-phase splice, on real TCP socket pairs
// over loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import net, { type AddressInfo, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSocketReader, type Parsed, type SocketReaderOptions } from '../../broker/net/socket-reader.js';
import { encodeErrorResponse, parseMessage, type PgMessage } from '../../broker/connectors/pg/codec.js';
import tls from 'node:tls';
import { checkDirectRead, isPlainSocket } from '../../broker/net/direct-read.js';
import { checkDirectWrite } from '../../broker/net/direct-write.js';
import { setNativePump } from '../../broker/net/native-pump.js';
import { splice } from '../../broker/splice.js';
import { waitFor } from '../fixtures/wait-for.js';

/** A connected pair of real TCP sockets on 127.0.0.1: [connecting side, accepted side]. */
async function socketPair(): Promise<[Socket, Socket]> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = net.connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', noDelay: true });
  await once(client, 'connect');
  const [serverSide] = await accepted;
  serverSide.setNoDelay(true);
  server.close();
  return [client, serverSide];
}

function destroyAll(...sockets: Socket[]): void {
  for (const s of sockets) s.destroy();
}

class ClosedError extends Error {}
class AbortedError extends Error {}

function readerOptions(signal: AbortSignal = new AbortController().signal): SocketReaderOptions & { closed: ClosedError[]; aborted: AbortedError[] } {
  const closed: ClosedError[] = [];
  const aborted: AbortedError[] = [];
  return {
    signal,
    closed,
    aborted,
    closedError: () => {
      const e = new ClosedError('peer closed during the handshake');
      closed.push(e);
      return e;
    },
    abortedError: () => {
      const e = new AbortedError('aborted');
      aborted.push(e);
      return e;
    },
  };
}

/** PostgreSQL-shaped messages to frame: ParameterStatus, BackendKeyData, ReadyForQuery, ErrorResponse. */
function sampleMessages(): Buffer[] {
  const typed = (type: string, body: Buffer) => {
    const out = Buffer.alloc(5 + body.length);
    out.write(type, 0, 'latin1');
    out.writeInt32BE(4 + body.length, 1);
    body.copy(out, 5);
    return out;
  };
  return [
    typed('S', Buffer.from('server_version\x0016.2\x00')),
    typed('S', Buffer.from('client_encoding\x00UTF8\x00')),
    typed('K', Buffer.from([0, 0, 0x30, 0x39, 1, 2, 3, 4])),
    typed('Z', Buffer.from('I')),
    encodeErrorResponse({ severity: 'FATAL', code: '28P01', message: 'password authentication failed' }),
  ];
}

/** A parser that consumes nothing and resolves once `n` bytes are buffered: waits without eating. */
const peek = (n: number) => (buf: Buffer): Parsed<number> | null => (buf.length >= n ? { value: buf.length, consumed: 0 } : null);

/** Reads until `n` bytes have arrived on a socket. */
async function collect(socket: Socket, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  if (n === 0) return Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    const onData = (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= n) {
        socket.off('data', onData);
        socket.off('error', reject);
        resolve(Buffer.concat(chunks));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

// ---- socket reader ----

test('reader: messages split across many tiny writes are reassembled', async () => {
  const [near, far] = await socketPair();
  try {
    const messages = sampleMessages();
    const wire = Buffer.concat(messages);
    let chunks = 0;
    near.on('data', () => chunks++);
    const reader = createSocketReader(near, readerOptions());
    const reads = (async () => {
      const out: PgMessage[] = [];
      for (let i = 0; i < messages.length; i++) out.push(await reader.read(parseMessage));
      return out;
    })();
    for (let i = 0; i < wire.length; i += 3) {
      // Each piece arrives before the next is sent: the reader sees the bytes in pieces.
      const arrived = once(near, 'data');
      far.write(wire.subarray(i, i + 3));
      await arrived;
    }
    const got = await reads;
    assert.deepEqual(got.map((m) => m.type), ['S', 'S', 'K', 'Z', 'E']);
    got.forEach((m, i) => assert.deepEqual(Buffer.from(m.raw), messages[i]));
    assert.ok(chunks > messages.length, `the bytes really arrived in pieces (${chunks} chunks)`);
    assert.equal(reader.detach().length, 0);
  } finally {
    destroyAll(near, far);
  }
});

test('reader: several messages in one write are read one at a time, in order', async () => {
  const [near, far] = await socketPair();
  try {
    const messages = sampleMessages();
    const reader = createSocketReader(near, readerOptions());
    far.write(Buffer.concat(messages));
    await reader.read(peek(Buffer.concat(messages).length)); // everything is buffered before the first read
    for (const expected of messages) {
      const m = await reader.read(parseMessage);
      assert.deepEqual(Buffer.from(m.raw), expected);
    }
    assert.equal(reader.detach().length, 0);
  } finally {
    destroyAll(near, far);
  }
});

test('reader: detach() returns the unread bytes, and later bytes follow on the socket with none lost', async () => {
  const [near, far] = await socketPair();
  try {
    const [first] = sampleMessages();
    const tail = Buffer.from('the data phase has started: these bytes belong to the splice');
    const reader = createSocketReader(near, readerOptions());
    far.write(Buffer.concat([first!, tail]));
    const m = await reader.read(parseMessage);
    assert.deepEqual(Buffer.from(m.raw), first);
    await reader.read(peek(tail.length));
    const rest = reader.detach();
    assert.deepEqual(rest, tail);
    assert.ok(near.isPaused(), 'detach leaves the socket paused');

    // Bytes sent after the detach wait in the paused socket and come out when someone resumes it.
    const later = Buffer.from('and these come after');
    far.write(later);
    // A pause, not a wait for an event: nothing can be seen while the socket stays paused,
    // which is the point (the bytes must be in flight before someone resumes it).
    await sleep(20);
    const arriving = collect(near, later.length);
    near.resume();
    assert.deepEqual(await arriving, later);
  } finally {
    destroyAll(near, far);
  }
});

test('reader: the peer closing mid-message rejects with closedError', async () => {
  const [near, far] = await socketPair();
  try {
    const opts = readerOptions();
    const reader = createSocketReader(near, opts);
    const [first] = sampleMessages();
    const pending = reader.read(parseMessage);
    far.end(first!.subarray(0, first!.length - 2));
    const err = await pending.then(
      () => assert.fail('expected a rejection'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ClosedError, String(err));
    assert.equal(err, opts.closed[0]);
    // A read after the close fails the same way instead of hanging.
    await assert.rejects(reader.read(parseMessage), ClosedError);
  } finally {
    destroyAll(near, far);
  }
});

test('reader: the peer closing before anything is sent rejects a pending read with closedError', async () => {
  const [near, far] = await socketPair();
  try {
    const reader = createSocketReader(near, readerOptions());
    const pending = reader.read(parseMessage);
    far.destroy();
    await assert.rejects(pending, ClosedError);
  } finally {
    destroyAll(near, far);
  }
});

test('reader: a complete message that arrived before the peer closed is still delivered', async () => {
  // A server that sends its ErrorResponse and closes: the message must reach the
  // broker even when the read is issued after the close was seen.
  const [near, far] = await socketPair();
  try {
    const reader = createSocketReader(near, readerOptions());
    const error = encodeErrorResponse({ severity: 'FATAL', code: '53300', message: 'sorry, too many clients already' });
    const ended = once(near, 'end');
    far.end(error);
    await ended;
    await once(near, 'close');
    const m = await reader.read(parseMessage);
    assert.equal(m.type, 'E');
    assert.deepEqual(Buffer.from(m.raw), error);
    // And only then does the close surface.
    await assert.rejects(reader.read(parseMessage), ClosedError);
  } finally {
    destroyAll(near, far);
  }
});

test('reader: aborting the signal rejects a pending read with abortedError', async () => {
  const [near, far] = await socketPair();
  try {
    const controller = new AbortController();
    const opts = readerOptions(controller.signal);
    const reader = createSocketReader(near, opts);
    far.write(Buffer.from([0x52, 0, 0])); // half a header: the read stays pending
    await reader.read(peek(3)); // the half header is in the reader's buffer
    const pending = reader.read(parseMessage);
    controller.abort();
    const err = await pending.then(
      () => assert.fail('expected a rejection'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof AbortedError, String(err));
    assert.equal(err, opts.aborted[0]);
  } finally {
    destroyAll(near, far);
  }
});

test('reader: an already-aborted signal rejects the first read', async () => {
  const [near, far] = await socketPair();
  try {
    const reader = createSocketReader(near, readerOptions(AbortSignal.abort()));
    await assert.rejects(reader.read(parseMessage), AbortedError);
  } finally {
    destroyAll(near, far);
  }
});

test('reader: a parser that throws rejects the read with that very error', async () => {
  const [near, far] = await socketPair();
  try {
    const reader = createSocketReader(near, readerOptions());
    const boom = new RangeError('bad frame');
    const pending = reader.read(() => {
      throw boom;
    });
    far.write(Buffer.from('x'));
    const err = await pending.then(
      () => assert.fail('expected a rejection'),
      (e: unknown) => e,
    );
    assert.equal(err, boom);

    // The real codec's protocol error surfaces the same way.
    const bad = Buffer.from([0x52, 0, 0, 0, 1]); // length 1 < 4
    far.write(bad);
    await assert.rejects(reader.read(parseMessage), { name: 'PgProtocolError' });
  } finally {
    destroyAll(near, far);
  }
});

test('reader: a second read while one is pending is refused', async () => {
  const [near, far] = await socketPair();
  try {
    const reader = createSocketReader(near, readerOptions());
    const first = reader.read(parseMessage);
    await assert.rejects(reader.read(parseMessage), /concurrent read/);
    const [m] = sampleMessages();
    far.write(m!);
    assert.deepEqual(Buffer.from((await first).raw), m);
  } finally {
    destroyAll(near, far);
  }
});

// ---- splice ----

/** A splice test run twice: through the JS pipe and through the native pump (where it is built). */
function bothPipes(name: string, fn: () => Promise<void>): void {
  for (const pipe of ['js', 'native'] as const) {
    test(`${name} (${pipe} pipe)`, async () => {
      setNativePump(pipe === 'native');
      try {
        await fn();
      } finally {
        setNativePump(true);
      }
    });
  }
}

/** A test of the JS pipe's own mechanics (the native pump off). */
function jsPipe(name: string, fn: () => Promise<void>): void {
  test(name, async () => {
    setNativePump(false);
    try {
      await fn();
    } finally {
      setNativePump(true);
    }
  });
}

/**
 * Builds the production shape: app <-> brokerClient (accepted by the broker) and
 * brokerUpstream <-> server (dialled by the broker), then runs a handshake on both
 * broker sides with socket readers so that some bytes are left over as "pending".
 */
async function handshaken() {
  const [app, brokerClient] = await socketPair();
  const [brokerUpstream, server] = await socketPair();
  const clientReader = createSocketReader(brokerClient, readerOptions());
  const upstreamReader = createSocketReader(brokerUpstream, readerOptions());

  const hello = Buffer.from('HELLO');
  const early = { toUpstream: Buffer.from('early bytes from the app;'), toClient: Buffer.from('early bytes from the server;') };
  app.write(Buffer.concat([hello, early.toUpstream]));
  server.write(Buffer.concat([hello, early.toClient]));
  const take = (n: number) => (buf: Buffer): Parsed<Buffer> | null => (buf.length >= n ? { value: Buffer.from(buf.subarray(0, n)), consumed: n } : null);
  assert.deepEqual(await clientReader.read(take(5)), hello);
  assert.deepEqual(await upstreamReader.read(take(5)), hello);
  await clientReader.read(peek(early.toUpstream.length));
  await upstreamReader.read(peek(early.toClient.length));
  const pending = { toUpstream: clientReader.detach(), toClient: upstreamReader.detach() };
  assert.deepEqual(pending, early);
  return { app, brokerClient, brokerUpstream, server, pending, handshakeBytes: hello.length };
}

bothPipes('splice: pending bytes first, then 5 MB each way intact, then close propagates with byte counts', async () => {
  const s = await handshaken();
  try {
    // Bytes sent after the handshake but before the splice starts must come after the pending ones.
    const beforeSplice = { fromApp: Buffer.from('sent before the splice;'), fromServer: Buffer.from('also before the splice;') };
    s.app.write(beforeSplice.fromApp);
    s.server.write(beforeSplice.fromServer);
    // A pause, not a wait for an event: the bytes sit unread in paused sockets, which is
    // the case tested (sent before the splice starts), so there is nothing to observe.
    await sleep(20);

    const big = { fromApp: randomBytes(5 * 1024 * 1024), fromServer: randomBytes(5 * 1024 * 1024) };
    const expectAtServer = Buffer.concat([s.pending.toUpstream, beforeSplice.fromApp, big.fromApp]);
    const expectAtApp = Buffer.concat([s.pending.toClient, beforeSplice.fromServer, big.fromServer]);
    const atServer = collect(s.server, expectAtServer.length);
    const atApp = collect(s.app, expectAtApp.length);

    const done = splice(s.brokerClient, s.brokerUpstream, s.pending);
    s.app.write(big.fromApp);
    s.server.write(big.fromServer);

    const [gotServer, gotApp] = await Promise.all([atServer, atApp]);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    assert.equal(gotServer.length, expectAtServer.length);
    assert.equal(gotApp.length, expectAtApp.length);
    assert.deepEqual(gotServer.subarray(0, s.pending.toUpstream.length + beforeSplice.fromApp.length), Buffer.concat([s.pending.toUpstream, beforeSplice.fromApp]));
    assert.deepEqual(gotApp.subarray(0, s.pending.toClient.length + beforeSplice.fromServer.length), Buffer.concat([s.pending.toClient, beforeSplice.fromServer]));
    assert.equal(sha(gotServer), sha(expectAtServer));
    assert.equal(sha(gotApp), sha(expectAtApp));

    // The app hangs up: the server side sees EOF and the splice resolves.
    const serverClosed = once(s.server, 'close');
    s.app.end();
    await serverClosed;
    const result = await done;
    // Counts are what crossed the client socket, handshake included.
    assert.equal(result.bytesFromClient, s.handshakeBytes + s.pending.toUpstream.length + beforeSplice.fromApp.length + big.fromApp.length);
    assert.equal(result.bytesToClient, expectAtApp.length);
    assert.ok(s.brokerClient.destroyed && s.brokerUpstream.destroyed);
  } finally {
    destroyAll(s.app, s.brokerClient, s.brokerUpstream, s.server);
  }
});

bothPipes('splice: the server closing closes the app side and resolves', async () => {
  const s = await handshaken();
  try {
    const atApp = collect(s.app, s.pending.toClient.length);
    const done = splice(s.brokerClient, s.brokerUpstream, s.pending);
    assert.deepEqual(await atApp, s.pending.toClient);
    const appEnded = once(s.app, 'end');
    const appClosed = once(s.app, 'close');
    s.server.end(Buffer.from('bye'));
    await appEnded;
    await appClosed;
    const result = await done;
    assert.equal(result.bytesToClient, s.pending.toClient.length + 3);
    assert.equal(result.bytesFromClient, s.handshakeBytes + s.pending.toUpstream.length);
  } finally {
    destroyAll(s.app, s.brokerClient, s.brokerUpstream, s.server);
  }
});

bothPipes('splice: an app that sends and closes at once still gets every byte to the server', async () => {
  const s = await handshaken();
  try {
    const payload = randomBytes(1024 * 1024);
    const atServer = collect(s.server, s.pending.toUpstream.length + payload.length);
    const serverEnded = once(s.server, 'end');
    const done = splice(s.brokerClient, s.brokerUpstream, s.pending);
    s.app.end(payload);
    const got = await atServer;
    assert.deepEqual(got, Buffer.concat([s.pending.toUpstream, payload]));
    await serverEnded;
    await done;
  } finally {
    destroyAll(s.app, s.brokerClient, s.brokerUpstream, s.server);
  }
});

bothPipes('splice: an abrupt reset on one side destroys the other and resolves', async () => {
  const s = await handshaken();
  try {
    s.app.on('error', () => {});
    s.server.on('error', () => {});
    const done = splice(s.brokerClient, s.brokerUpstream, { toUpstream: Buffer.alloc(0), toClient: Buffer.alloc(0) });
    const appClosed = once(s.app, 'close');
    s.server.resetAndDestroy();
    await appClosed;
    const result = await done;
    assert.equal(typeof result.bytesFromClient, 'number');
  } finally {
    destroyAll(s.app, s.brokerClient, s.brokerUpstream, s.server);
  }
});

bothPipes('splice with a client->target filter: pending bytes and 5 MB pass through it, dropped bytes never arrive, the other way is untouched', async () => {
  const s = await handshaken();
  try {
    // The filter drops every 'X' byte and splits chunks in two, to check ordering and backpressure.
    let seen = 0;
    const filter = (chunk: Buffer): Buffer[] => {
      seen += chunk.length;
      const kept = Buffer.from(chunk.filter((b) => b !== 0x58));
      const mid = kept.length >> 1;
      return [kept.subarray(0, mid), kept.subarray(mid)].filter((b) => b.length > 0);
    };
    const big = Buffer.from(randomBytes(5 * 1024 * 1024).map((b) => (b === 0x58 ? 0x59 : b)));
    const withX = Buffer.concat([Buffer.from('XXXX'), big, Buffer.from('XX')]);
    const expectAtServer = Buffer.concat([Buffer.from(s.pending.toUpstream.filter((b) => b !== 0x58)), big]);
    const fromServer = randomBytes(1024 * 1024);
    const expectAtApp = Buffer.concat([s.pending.toClient, fromServer]);
    const atServer = collect(s.server, expectAtServer.length);
    const atApp = collect(s.app, expectAtApp.length);

    const done = splice(s.brokerClient, s.brokerUpstream, s.pending, filter);
    s.app.write(withX);
    s.server.write(fromServer);
    const [gotServer, gotApp] = await Promise.all([atServer, atApp]);
    assert.ok(gotServer.equals(expectAtServer), 'the server got exactly the filtered bytes, in order');
    assert.ok(gotApp.equals(expectAtApp), 'the server->client direction is not filtered');
    assert.equal(seen, s.pending.toUpstream.length + withX.length);
    s.app.end();
    s.server.end();
    await done;
  } finally {
    for (const sock of [s.app, s.brokerClient, s.brokerUpstream, s.server]) sock.destroy();
  }
});

jsPipe('splice between plain sockets reads into its own buffers (no stream data events), TLS would not qualify', async () => {
  checkDirectRead();
  const s = await handshaken();
  try {
    assert.ok(isPlainSocket(s.brokerClient) && isPlainSocket(s.brokerUpstream));
    assert.equal(isPlainSocket(new tls.TLSSocket(new net.Socket())), false);
    const done = splice(s.brokerClient, s.brokerUpstream, s.pending);
    assert.equal(s.brokerClient.listenerCount('data') + s.brokerUpstream.listenerCount('data'), 0, 'the data phase has no data listener: reads go to the direct callback');
    const atServer = collect(s.server, s.pending.toUpstream.length + 5);
    s.app.write('after');
    assert.deepEqual(await atServer, Buffer.concat([s.pending.toUpstream, Buffer.from('after')]));
    s.app.end();
    await done;
  } finally {
    destroyAll(s.app, s.brokerClient, s.brokerUpstream, s.server);
  }
});

/** Resolves once `socket` has read `total` bytes in all. */
function bytesIn(socket: Socket, total: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (socket.bytesRead < total) return;
      socket.off('data', check);
      resolve();
    };
    socket.on('data', check);
    check();
  });
}

jsPipe('splice between plain sockets writes to the handles directly (no Socket.write per message), every byte in order both ways', async () => {
  checkDirectWrite();
  const s = await handshaken();
  try {
    const done = splice(s.brokerClient, s.brokerUpstream, s.pending);
    // Counted from here: the pending bytes above went through Socket.write on purpose.
    let streamWrites = 0;
    for (const sock of [s.brokerClient, s.brokerUpstream]) {
      const write = sock.write.bind(sock) as (...args: unknown[]) => boolean;
      sock.write = ((...args: unknown[]) => (streamWrites++, write(...args))) as typeof sock.write;
    }
    const atServer = collect(s.server, s.pending.toUpstream.length + 100 * 6);
    const atApp = collect(s.app, s.pending.toClient.length + 100 * 6);
    // Request/answer turns, as a client and a server take them.
    for (let i = 0; i < 100; i++) {
      const n = String(i).padStart(2, '0');
      s.app.write(`ask:${n}`);
      await bytesIn(s.server, s.pending.toUpstream.length + (i + 1) * 6);
      s.server.write(`ans:${n}`);
    }
    const expected = (tag: string) => Array.from({ length: 100 }, (_, i) => `${tag}:${String(i).padStart(2, '0')}`).join('');
    assert.equal((await atServer).toString('latin1'), s.pending.toUpstream.toString('latin1') + expected('ask'));
    assert.equal((await atApp).toString('latin1'), s.pending.toClient.toString('latin1') + expected('ans'));
    assert.equal(streamWrites, 0, 'no message went through Socket.write');
    s.app.end();
    await done;
  } finally {
    destroyAll(s.app, s.brokerClient, s.brokerUpstream, s.server);
  }
});

/** Bytes a socket holds for its peer: in its Writable, or (direct writes) in libuv's write queue. */
const heldForWriting = (socket: net.Socket) => socket.writableLength + ((socket as unknown as { _handle?: { writeQueueSize?: number } })._handle?.writeQueueSize ?? 0);

jsPipe('splice: a reader that stops reading holds the broker\'s writes, and not a byte of what it gets is overwritten by later reads', async () => {
  const s = await handshaken();
  try {
    // The app reads nothing for a while: the broker's writes to it cannot complete, so
    // their bytes sit in the read buffer they came from while the server keeps sending.
    s.app.pause();
    const blocks = Array.from({ length: 400 }, (_, i) => Buffer.alloc(16 * 1024 + (i % 7) * 1000, i % 251));
    const fromServer = Buffer.concat(blocks);
    const done = splice(s.brokerClient, s.brokerUpstream, s.pending);
    // Meanwhile the other direction runs, through the same splice.
    const upload = randomBytes(2 * 1024 * 1024);
    const atServer = collect(s.server, s.pending.toUpstream.length + upload.length);
    s.app.write(upload);
    for (const b of blocks) s.server.write(b);
    // The broker has a write waiting for the app (its bytes still in the read buffer) and
    // has not read all the server sent: the rest is read only after that write is done.
    await waitFor('the broker to hold a write for the app', () => heldForWriting(s.brokerClient) > 0);
    assert.ok(s.brokerUpstream.bytesRead < s.handshakeBytes + s.pending.toClient.length + fromServer.length, 'part of the server\'s bytes are still unread');
    const atApp = collect(s.app, s.pending.toClient.length + fromServer.length);
    s.app.resume();
    const got = await atApp;
    assert.ok(got.equals(Buffer.concat([s.pending.toClient, fromServer])), 'the app got every byte, in order, unaltered');
    assert.ok((await atServer).equals(Buffer.concat([s.pending.toUpstream, upload])));
    s.app.end();
    await done;
  } finally {
    destroyAll(s.app, s.brokerClient, s.brokerUpstream, s.server);
  }
});
