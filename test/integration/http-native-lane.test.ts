// The native pump's HTTP lane (broker/native/pump.c, http-wire.c): after a connection's
// first request the broker moves it to a C thread, which serves plain requests itself
// and gives the connection back to JS for everything else. Each test sends a first
// request on a kept-alive connection (so the lane has it) and then the case under test
// on the same connection, against a real Node HTTP server that records what arrived.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { httpLaneCounters, nativePumpStatus } from '../../broker/net/native-pump.js';
import type { Provider } from '../../broker/credentials/types.js';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { waitFor } from '../fixtures/wait-for.js';

const TOKEN = 'native-lane-token-3f9a1c';
const BIG = Buffer.alloc(4 << 20, 0).map((_, i) => (i * 13 + (i >> 10)) % 253);

interface Seen {
  method: string;
  url: string;
  host: string | undefined;
  authorization: string | undefined;
  leaked: string[];
  bodyHash: string;
  bodyBytes: number;
}
const seen: Seen[] = [];
let upstream: Server;
let connections = 0;
const dropNext = new WeakSet<Socket>();
let tb: TestBroker;
let upstreamPort = 0;
// The rotating provider's current token and how long each is valid.
let rotation = 0;
let rotatingTtlMs = 31_000;

function route(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  if (dropNext.has(socket)) return void socket.destroy();
  const hash = createHash('sha256');
  let bytes = 0;
  req.on('data', (c: Buffer) => {
    hash.update(c);
    bytes += c.length;
  });
  req.on('end', () => {
    const leaked = ['proxy-authorization', 'x-amz-security-token', 'x-amz-signature', 'x-drop-me'].filter((h) => req.headers[h] !== undefined);
    seen.push({ method: req.method!, url: req.url!, host: req.headers.host, authorization: req.headers.authorization, leaked, bodyHash: hash.digest('hex'), bodyBytes: bytes });
    const path = (req.url ?? '/').split('?')[0]!;
    switch (path) {
      case '/chunked':
        res.writeHead(200, { trailer: 'x-sum' });
        res.write('one ');
        res.addTrailers({ 'x-sum': 'ok' });
        return void res.end('two');
      case '/redirect':
        res.writeHead(302, { location: `http://127.0.0.1:${upstreamPort}/api/landed?x=1`, 'content-length': 0 });
        return void res.end();
      case '/api/landed':
        res.writeHead(200, { 'content-length': 6 });
        return void res.end('landed');
      case '/denied':
        res.writeHead(401, { 'www-authenticate': 'Bearer', 'content-length': 2 });
        return void res.end('no');
      case '/big':
        res.writeHead(200, { 'content-length': BIG.length });
        return void res.end(BIG);
      case '/empty':
        res.writeHead(204);
        return void res.end();
      case '/hints':
        res.writeEarlyHints({ link: '</a.css>; rel=preload' });
        res.writeHead(200, { 'content-length': 11 });
        return void res.end('after hints');
      case '/bye':
        dropNext.add(socket);
        res.writeHead(200, { 'content-length': 3 });
        return void res.end('bye');
      case '/cut':
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b');
        return void setTimeout(() => socket.destroy(), 50);
      case '/garbled':
        socket.write('HTTP/1.1 200 OK\r\nbad header line\r\n\r\n');
        return void socket.destroy();
      case '/token': {
        const text = req.headers.authorization ?? 'none';
        res.writeHead(200, { 'content-length': Buffer.byteLength(text) });
        return void res.end(text);
      }
      default: {
        // A Content-Length on every answer (HEAD's too, describing the GET's body).
        const text = `${req.method} ${req.url} ${bytes}`;
        res.writeHead(200, { 'content-length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
      }
    }
  });
}

/** A bearer token that changes each time it is fetched and expires rotatingTtlMs later. */
const rotating: Provider = {
  name: 'rotating',
  async get(ids) {
    rotation++;
    return new Map(ids.map((id) => [id, { value: Buffer.from(`rotated-${rotation}`), expiresAt: new Date(Date.now() + rotatingTtlMs) }]));
  },
};

before(async () => {
  upstream = createServer(route);
  upstream.keepAliveTimeout = 60_000;
  upstream.on('connection', () => connections++);
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as AddressInfo).port;
  tb = await startTestBroker(
    `version: "2"
services:
  api:
    connector: http
    listenOn: tcp://127.0.0.1:0
    credentials: { token: { from: env, get: TOKEN } }
    config: { upstream: "http://127.0.0.1:${upstreamPort}" }
  based:
    connector: http
    listenOn: tcp://127.0.0.1:0
    credentials: { token: { from: env, get: TOKEN } }
    config: { upstream: "http://127.0.0.1:${upstreamPort}/api/" }
  rotating:
    connector: http
    listenOn: tcp://127.0.0.1:0
    credentials: { token: { from: rotating, get: token } }
    config: { upstream: "http://127.0.0.1:${upstreamPort}" }
`,
    { env: { TOKEN }, providers: [rotating] },
  );
});

after(async () => {
  await tb?.stop();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
});

/** A raw kept-alive client connection that reads answers as they come. */
class Client {
  readonly socket: Socket;
  text = '';
  sent = 0;
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => (this.text += d.toString('latin1')));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static async open(service = 'api'): Promise<Client> {
    const { host, port } = tb.tcp(service);
    const socket = connect(port, host);
    await new Promise<void>((r) => socket.once('connect', r));
    return new Client(socket);
  }

  /** Sends `request` and waits until the text received so far satisfies `done`; returns the new text. */
  async send(request: string | Buffer, done: (text: string) => boolean): Promise<string> {
    const from = this.text.length;
    this.sent += Buffer.byteLength(request);
    this.socket.write(request);
    await waitFor(() => `an answer to ${JSON.stringify(String(request).slice(0, 60))}, have ${JSON.stringify(this.text.slice(from, from + 300))}`, () => done(this.text.slice(from)) || this.closed);
    return this.text.slice(from);
  }

  /** A GET on the kept-alive connection, answered with a Content-Length body. */
  get(path: string, extra = ''): Promise<string> {
    return this.send(`GET ${path} HTTP/1.1\r\nHost: broker.test\r\n${extra}\r\n`, (t) => whole(t));
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A whole answer with a Content-Length body. */
function whole(t: string): boolean {
  const at = t.indexOf('\r\n\r\n');
  if (at < 0) return false;
  const m = /content-length: (\d+)/i.exec(t.slice(0, at));
  return !!m && t.length - at - 4 >= Number(m[1]);
}

const body = (answer: string) => answer.slice(answer.indexOf('\r\n\r\n') + 4);

/** The counters since `before` (the lane's hand-overs, hand-backs by reason, records). */
function since(before: ReturnType<typeof snapshot>) {
  const now = snapshot();
  const back: Record<string, number> = {};
  for (const [k, v] of Object.entries(now.back)) if (v - (before.back[k] ?? 0) > 0) back[k] = v - (before.back[k] ?? 0);
  return { handedOver: now.handedOver - before.handedOver, records: now.records - before.records, back };
}
function snapshot(): { handedOver: number; records: number; back: Record<string, number> } {
  return { handedOver: httpLaneCounters.handedOver, records: httpLaneCounters.records, back: { ...httpLaneCounters.back } };
}

test('the native pump is built with its HTTP lane (Linux builds it in npm test)', () => {
  const status = nativePumpStatus();
  assert.ok(status.loaded, `the pump is not loaded: ${JSON.stringify(status)}`);
});

test('kept-alive requests after the first are served by the lane: every method, body and answer framing, the broker\'s token and nothing of the client\'s', async () => {
  const c0 = snapshot();
  const c = await Client.open();
  assert.match(await c.get('/first'), /^HTTP\/1\.1 200 OK\r\n/);
  const from = seen.length;
  const creds = 'Authorization: Bearer client-own\r\nProxy-Authorization: Basic eDp5\r\nX-Amz-Security-Token: t\r\nX-Amz-Signature: s\r\nConnection: x-drop-me\r\nX-Drop-Me: 1\r\n';
  const plain = await c.get('/plain?q=1&r=%2F', creds);
  assert.match(plain, /^HTTP\/1\.1 200 OK\r\n/);
  assert.equal(body(plain), 'GET /plain?q=1&r=%2F 0');
  // A body in the same write as the head, and one larger than a read.
  const post = await c.send(`POST /post HTTP/1.1\r\nHost: b\r\nContent-Length: 11\r\n\r\nhello world`, whole);
  assert.equal(body(post), 'POST /post 11');
  const upload = Buffer.alloc(3 << 20, 7);
  const put = await c.send(Buffer.concat([Buffer.from(`PUT /upload HTTP/1.1\r\nHost: b\r\nContent-Length: ${upload.length}\r\n\r\n`), upload]), whole);
  assert.equal(body(put), `PUT /upload ${upload.length}`);
  // HEAD: a Content-Length and no body; the next answer follows directly.
  const head = await c.send('HEAD /head HTTP/1.1\r\nHost: b\r\n\r\nGET /after-head HTTP/1.1\r\nHost: b\r\n\r\n', (t) => t.endsWith('GET /after-head 0'));
  assert.match(head, /^HTTP\/1\.1 200 OK\r\n[^]*content-length: \d+\r\n[^]*\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
  const chunked = await c.send('GET /chunked HTTP/1.1\r\nHost: b\r\n\r\n', (t) => t.endsWith('0\r\nx-sum: ok\r\n\r\n'));
  assert.match(chunked, /transfer-encoding: chunked\r\n/);
  assert.match(chunked, /\r\n\r\n4\r\none \r\n3\r\ntwo\r\n0\r\nx-sum: ok\r\n\r\n$/);
  assert.match(await c.send('GET /empty HTTP/1.1\r\nHost: b\r\n\r\n', (t) => t.includes('\r\n\r\n')), /^HTTP\/1\.1 204 No Content\r\n/);
  const hints = await c.send('GET /hints HTTP/1.1\r\nHost: b\r\n\r\n', (t) => t.endsWith('after hints'));
  assert.match(hints, /^HTTP\/1\.1 103 Early Hints\r\nlink: <\/a\.css>; rel=preload\r\n\r\nHTTP\/1\.1 200 OK\r\n[^]*after hints$/);
  // Pipelined: three requests in one write, answered in order.
  const piped = await c.send('GET /p1 HTTP/1.1\r\nHost: b\r\n\r\nGET /p2 HTTP/1.1\r\nHost: b\r\n\r\nGET /p3 HTTP/1.1\r\nHost: b\r\n\r\n', (t) => t.endsWith('GET /p3 0'));
  assert.deepEqual([...piped.matchAll(/GET \/p\d 0/g)].map((m) => m[0]), ['GET /p1 0', 'GET /p2 0', 'GET /p3 0']);
  c.socket.end();
  await waitFor('the close', () => c.closed);
  // The connection's record counts what the lane moved too (Node's socket counters never see it).
  const closedRecord = await waitFor('the connection record', () =>
    tb.audit.records.find((r) => r.type === 'connection.closed' && r.service === 'api' && r.bytesFromClient > upload.length),
  );
  assert.ok(closedRecord.type === 'connection.closed');
  assert.equal(closedRecord.bytesToClient, c.text.length, 'every byte the client received');
  assert.equal(closedRecord.bytesFromClient, c.sent, 'every byte the client sent');

  const upstreamSaw = seen.slice(from);
  assert.equal(upstreamSaw.length, 11);
  for (const s of upstreamSaw) {
    assert.equal(s.authorization, `Bearer ${TOKEN}`, `${s.method} ${s.url}: the broker's token, not the client's`);
    assert.equal(s.host, `127.0.0.1:${upstreamPort}`);
    assert.deepEqual(s.leaked, [], `${s.url}: no client credential or Connection-named field upstream`);
  }
  assert.equal(upstreamSaw.find((s) => s.url === '/upload')?.bodyHash, createHash('sha256').update(upload).digest('hex'));
  // The lane's records arrive in batches (within a second).
  await waitFor('the lane\'s records', () => since(c0).records >= 11);
  const counted = since(c0);
  assert.equal(counted.handedOver, 1, JSON.stringify(counted));
  assert.equal(counted.records, 11, `the lane served every request after the first: ${JSON.stringify(counted)}`);
  await waitFor('the audit records', () => tb.audit.records.filter((r) => r.type === 'http.request' && r.path === '/p3').length === 1);
  const put3 = tb.audit.records.find((r) => r.type === 'http.request' && r.path === '/upload');
  assert.ok(put3?.type === 'http.request' && put3.method === 'PUT' && put3.status === 200 && put3.bytesIn === upload.length && put3.bytesOut > 0, JSON.stringify(put3));
  const plainRecord = tb.audit.records.find((r) => r.type === 'http.request' && r.path === '/plain');
  assert.ok(plainRecord, 'the path is recorded without its query string');
  assert.ok(!tb.output().includes(TOKEN), 'the token appears in no log or audit record');
  assert.ok(!tb.output().includes('q=1'), 'no query string in the audit');
});

test('a base path is prefixed and a Location into the upstream comes back as the broker\'s address', async () => {
  const c = await Client.open('based');
  await c.get('/first');
  const c0 = snapshot();
  const from = seen.length;
  const landed = await c.get('/landed');
  assert.equal(body(landed), 'landed');
  assert.equal(seen[from]?.url, '/api/landed');
  c.close();
  const d = await Client.open('api');
  await d.get('/first');
  const redirect = await d.send('GET /redirect HTTP/1.1\r\nHost: broker.test:1234\r\n\r\n', (t) => whole(t));
  assert.match(redirect, /^HTTP\/1\.1 302 Found\r\n/);
  assert.match(redirect, /\r\nlocation: http:\/\/broker\.test:1234\/api\/landed\?x=1\r\n/);
  assert.equal(body(await d.get('/after-redirect')), 'GET /after-redirect 0');
  d.close();
  // Only the clients' own closes between requests gave them back.
  assert.deepEqual(since(c0).back, { 'client-eof': 1 }, 'the lane kept both connections');
});

test('requests the lane does not take go back to JS at the boundary and are answered there', async () => {
  const c = await Client.open();
  await c.get('/first');
  const c0 = snapshot();
  const from = seen.length;
  // Dot segments: the JS lane's URL parser resolves them.
  assert.equal(body(await c.get('/a/../dots')), 'GET /dots 0');
  await c.get('/again');
  // A chunked request body: Node's parser reads it.
  const chunkedBody = await c.send('POST /chunked-up HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', whole);
  assert.equal(body(chunkedBody), 'POST /chunked-up 5');
  c.close();
  const counted = since(c0);
  assert.ok((counted.back.request ?? 0) >= 2, JSON.stringify(counted));
  assert.ok(counted.handedOver >= 1, `the connection went back to the lane after the JS request: ${JSON.stringify(counted)}`);
  assert.equal(seen[from]?.url, '/dots');
});

test('an upstream 401 passes through, is recorded as target_rejected_credentials, and the next request resolves the credential again', async () => {
  const c = await Client.open();
  await c.get('/first');
  const c0 = snapshot();
  const denied = await c.get('/denied');
  assert.match(denied, /^HTTP\/1\.1 401 Unauthorized\r\n/);
  assert.match(denied, /www-authenticate: Bearer/);
  assert.equal(body(await c.get('/token')), `Bearer ${TOKEN}`);
  c.close();
  assert.equal(since(c0).back.rejected, 1);
  await waitFor('the 401 record', () => tb.audit.records.some((r) => r.type === 'http.request' && r.path === '/denied'));
  const rec = tb.audit.records.find((r) => r.type === 'http.request' && r.path === '/denied');
  assert.ok(rec?.type === 'http.request' && rec.status === 401 && rec.outcome === 'target_rejected_credentials', JSON.stringify(rec));
});

test('a credential whose validity ends is resolved again before the next request on the same connection', async () => {
  rotatingTtlMs = 31_000; // valid for 1 s more (the cache refreshes 30 s before expiry)
  const c = await Client.open('rotating');
  const first = body(await c.get('/token'));
  assert.match(first, /^Bearer rotated-\d+$/);
  const c0 = snapshot();
  assert.equal(body(await c.get('/token')), first, 'the lane uses the same token while it is valid');
  await new Promise((r) => setTimeout(r, 1_300));
  const later = body(await c.get('/token'));
  assert.match(later, /^Bearer rotated-\d+$/);
  assert.notEqual(later, first, 'a new token after the old one\'s validity');
  c.close();
  assert.equal(since(c0).back.credentials, 1);
});

test('an upstream that closes a kept-alive connection: idle, the next request opens a new one; mid-request, it is sent again', async () => {
  const c = await Client.open();
  await c.get('/first');
  const c0 = snapshot();
  // The server drops the socket on the request after /bye: the lane hands it back and JS retries.
  assert.equal(body(await c.get('/bye')), 'bye');
  assert.equal(body(await c.get('/retried')), 'GET /retried 0');
  assert.equal(body(await c.get('/then')), 'GET /then 0');
  // The server closes its idle side (Node's server: keepAliveTimeout + 1 s).
  upstream.keepAliveTimeout = 100;
  await c.get('/short-keepalive');
  await new Promise((r) => setTimeout(r, 1_600));
  upstream.keepAliveTimeout = 60_000;
  assert.equal(body(await c.get('/after-idle-close')), 'GET /after-idle-close 0');
  c.close();
  const counted = since(c0);
  assert.equal(counted.back.retry, 1, JSON.stringify(counted));
  assert.equal(counted.back['upstream-gone'], 1, JSON.stringify(counted));
});

test('an answer cut short ends the client connection; a malformed head is a 502; both recorded; the broker keeps serving', async () => {
  const c = await Client.open();
  await c.get('/first');
  const cut = await c.send('GET /cut HTTP/1.1\r\nHost: b\r\n\r\n', () => false);
  assert.ok(c.closed, 'the client connection ends');
  assert.match(cut, /only ten b$/);
  const d = await Client.open();
  await d.get('/first');
  const bad = await d.send('GET /garbled HTTP/1.1\r\nHost: b\r\nAccept: application/json\r\n\r\n', whole);
  assert.match(bad, /^HTTP\/1\.1 502 /);
  assert.match(bad, /target_protocol_error|target_error|target_unreachable/);
  d.close();
  await waitFor('both records', () => ['/cut', '/garbled'].every((p) => tb.audit.records.some((r) => r.type === 'http.request' && r.path === p)));
  const cutRecord = tb.audit.records.find((r) => r.type === 'http.request' && r.path === '/cut');
  assert.ok(cutRecord?.type === 'http.request' && cutRecord.outcome === 'target_protocol_error', JSON.stringify(cutRecord));
  const e = await Client.open();
  assert.equal(body(await e.get('/still')), 'GET /still 0');
  e.close();
});

test('a large answer to a client that stops reading arrives byte for byte', async () => {
  const c = await Client.open();
  await c.get('/first');
  const chunks: Buffer[] = [];
  c.socket.removeAllListeners('data');
  let paused = false;
  c.socket.on('data', (d: Buffer) => {
    chunks.push(d);
    if (!paused) {
      paused = true;
      c.socket.pause();
      setTimeout(() => c.socket.resume(), 400);
    }
  });
  c.socket.write('GET /big HTTP/1.1\r\nHost: b\r\n\r\n');
  await waitFor('the whole body', () => Buffer.concat(chunks).length >= BIG.length);
  const all = Buffer.concat(chunks);
  const got = all.subarray(all.indexOf('\r\n\r\n') + 4);
  assert.equal(got.length, BIG.length);
  assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(BIG).digest('hex'));
  c.close();
});

test('a client idle for 5 s is closed; one that closes between requests leaves the upstream connection to the next client', async () => {
  const c = await Client.open();
  await c.get('/first');
  const c0 = snapshot();
  const opened = connections;
  c.socket.end();
  await waitFor('the close', () => c.closed);
  const d = await Client.open();
  await d.get('/next-client');
  assert.equal(connections, opened, 'the kept-alive upstream connection went to the next client');
  await waitFor('the idle close', () => d.closed, 8_000);
  const counted = since(c0);
  assert.equal(counted.back['client-eof'], 1, JSON.stringify(counted));
  assert.equal(counted.back.idle, 1, JSON.stringify(counted));
});

test('malformed or ambiguous requests on a lane connection go to Node\'s parser (400, 431); a head split over writes is still served', async () => {
  const cases: [string, number][] = [
    ['GET /two-lengths HTTP/1.1\r\nHost: b\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 400],
    ['POST /smuggle HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n', 400],
    [`GET /huge HTTP/1.1\r\nHost: b\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`, 431],
  ];
  const c0 = snapshot();
  const from = seen.length;
  for (const [request, status] of cases) {
    const c = await Client.open();
    await c.get('/first');
    const answer = await c.send(request, (t) => t.includes('\r\n\r\n'));
    assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), JSON.stringify(request.slice(0, 40)));
    c.close();
  }
  assert.deepEqual(seen.slice(from).map((s) => s.url), ['/first', '/first', '/first', '/first'], 'none of them reached the upstream');
  const c = await Client.open();
  await c.get('/first');
  c.socket.write('GET /spl');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(body(await c.send('it HTTP/1.1\r\nHost: b\r\n\r\n', whole)), 'GET /split 0');
  assert.equal(body(await c.get('/after-split')), 'GET /after-split 0');
  c.close();
  assert.equal(since(c0).back.request, cases.length + 1);
});
