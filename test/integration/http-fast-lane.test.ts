// The http connector's fast lane (broker/connectors/http/fast-lane.ts) against a real
// Node HTTP server that answers in every framing HTTP/1.1 has (length, chunked with
// trailers, close-delimited, no body, early hints) and misbehaves on request (closes a
// kept-alive connection, cuts an answer short, contradicts its own framing). Clients:
// curl (several URLs on one connection), and raw sockets for pipelining and split heads.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { waitFor } from '../fixtures/wait-for.js';

const run = promisify(execFile);
const BIG = Buffer.alloc(8 << 20, 0).map((_, i) => (i * 7 + (i >> 12)) % 251);
const TOKEN = 'fast-lane-token-5e1b9c';

let upstream: Server;
let connections = 0;
/** Upstream sockets whose next request is dropped without an answer (a server closing a kept-alive connection). */
const dropNext = new WeakSet<Socket>();
let tb: TestBroker;
let base: string;

function route(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  if (dropNext.has(socket)) return void socket.destroy();
  const path = req.url ?? '/';
  const body: Buffer[] = [];
  req.on('data', (c: Buffer) => body.push(c));
  req.on('end', () => {
    if (path.startsWith('/echo')) {
      const answer = JSON.stringify({ method: req.method, url: req.url, authorization: req.headers.authorization ?? null, body: Buffer.concat(body).toString(), te: req.headers['transfer-encoding'] ?? null });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
      return void res.end(answer);
    }
    switch (path) {
      case '/chunked': {
        res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
        res.write('first ');
        setTimeout(() => {
          res.write('second ');
          res.addTrailers({ 'x-checksum': 'abc' });
          res.end('third');
        }, 50);
        return;
      }
      case '/close':
        // No length, no chunking: the body ends when the server closes (raw, as Node never does this itself).
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end');
        return void setTimeout(() => socket.end(), 50);
      case '/hints':
        res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
        return void res.end('after hints');
      case '/big': {
        // 8 MiB in 1 MiB writes: more than the broker's read buffer, faster than a paused client reads.
        res.writeHead(200, { 'content-length': BIG.length });
        let at = 0;
        const more = (): void => {
          while (at < BIG.length) {
            const ok = res.write(BIG.subarray(at, (at += 1 << 20)));
            if (!ok) return void res.once('drain', more);
          }
          res.end();
        };
        return more();
      }
      case '/empty':
        res.writeHead(204);
        return void res.end();
      case '/bye':
        dropNext.add(socket);
        return void res.end('bye');
      case '/cut':
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b');
        return void setTimeout(() => socket.destroy(), 50);
      case '/contradiction':
        socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
        return void socket.destroy();
      default:
        res.end(`ok ${path}`);
    }
  });
}

before(async () => {
  upstream = createServer(route);
  upstream.on('connection', () => connections++);
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const { port } = upstream.address() as AddressInfo;
  tb = await startTestBroker(
    `version: "2"
services:
  api:
    connector: http
    listenOn: tcp://127.0.0.1:0
    credentials: { token: { from: env, get: TOKEN } }
    config: { upstream: "http://127.0.0.1:${port}" }
`,
    { env: { TOKEN } },
  );
  const l = tb.tcp('api');
  base = `http://${l.host}:${l.port}`;
});

after(async () => {
  await tb?.stop();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
});

async function curl(...args: string[]): Promise<string> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '20', ...args]);
  return stdout;
}

/** Writes `data` on a raw connection and reads until `done` says the answer is whole. */
async function raw(parts: (string | Buffer)[], done: (text: string) => boolean, gapMs = 0): Promise<string> {
  const { host, port } = tb.tcp('api');
  const socket = connect(port, host);
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  await new Promise<void>((r) => socket.once('connect', r));
  for (const p of parts) {
    socket.write(p);
    if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
  }
  await waitFor(() => `a whole answer, have ${JSON.stringify(text)}`, () => done(text) || socket.closed);
  socket.destroy();
  return text;
}

test('curl: several requests on one connection reuse one upstream connection; the broker\'s token replaces the client\'s', async () => {
  const before = connections;
  const out = await curl('-H', 'Authorization: Bearer client-own', `${base}/echo/1`, `${base}/echo/2?q=1`, `${base}/echo/3`);
  const answers = out.split('}{').length;
  assert.equal(answers, 3, out);
  assert.match(out, /"url":"\/echo\/2\?q=1"/);
  assert.equal(out.match(new RegExp(`"authorization":"Bearer ${TOKEN}"`, 'g'))?.length, 3, 'the broker\'s token upstream, every time');
  assert.ok(!out.includes('client-own'));
  assert.ok(connections - before <= 1, `upstream connections opened: ${connections - before}`);
  // A second client connection takes the pooled upstream connection.
  const again = connections;
  await curl(`${base}/plain`);
  assert.equal(connections, again, 'the kept-alive upstream connection is reused by the next client');
});

test('a request body with Content-Length streams through; a chunked one takes the Node path and arrives whole', async () => {
  const sized = JSON.parse(await curl('-X', 'POST', '--data-binary', 'body with length', `${base}/echo/post`)) as { body: string; method: string };
  assert.deepEqual([sized.method, sized.body], ['POST', 'body with length']);
  const chunked = JSON.parse(await curl('-X', 'PUT', '-H', 'Transfer-Encoding: chunked', '--data-binary', 'chunked body', `${base}/echo/put`)) as { body: string; te: string };
  assert.equal(chunked.body, 'chunked body');
});

test('answers in every framing: chunked with trailers, close-delimited, 204, HEAD, early hints', async () => {
  const chunked = await raw(['GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n'], (t) => t.endsWith('0\r\nx-checksum: abc\r\n\r\n'));
  assert.match(chunked, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(chunked, /transfer-encoding: chunked\r\n/i);
  assert.equal(await curl('--raw', `${base}/chunked`).then((t) => t.replace(/\r\n/g, '|')), '6|first |7|second |5|third|0|x-checksum: abc||');
  assert.equal(await curl(`${base}/chunked`), 'first second third');
  // The tracker found the end: the next request on the same connection is answered.
  const next = await raw(['GET /chunked HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n'], (t) => t.endsWith('ok /plain'));
  assert.match(next, /0\r\nx-checksum: abc\r\n\r\nHTTP\/1\.1 200 OK\r\n[^]*ok \/plain$/);

  const closeDelimited = await curl('-i', `${base}/close`);
  assert.match(closeDelimited, /connection: close/i);
  assert.match(closeDelimited, /\r\n\r\nuntil the end$/);

  const empty = await curl('-i', `${base}/empty`);
  assert.match(empty, /^HTTP\/1\.1 204/);
  // HEAD: the answer's Content-Length describes the GET body, and none follows.
  const head = await raw(['HEAD /echo/h HTTP/1.1\r\nHost: x\r\n\r\nGET /after-head HTTP/1.1\r\nHost: x\r\n\r\n'], (t) => t.endsWith('ok /after-head'));
  assert.match(head, /^HTTP\/1\.1 200 OK\r\n[^]*content-length: \d+\r\n[^]*\r\n\r\nHTTP\/1\.1 200 OK\r\n/);

  const hinted = await raw(['GET /hints HTTP/1.1\r\nHost: x\r\n\r\n'], (t) => t.endsWith('after hints'));
  assert.match(hinted, /^HTTP\/1\.1 103 Early Hints\r\nlink: <\/style\.css>; rel=preload; as=style\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
});

test('pipelined requests are answered in order; a head split over two writes is still served', async () => {
  const pipelined = await raw(['GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /echo/b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], (t) => t.endsWith('ok /c'));
  const order = [...pipelined.matchAll(/ok \/a|"url":"\/echo\/b"|ok \/c/g)].map((m) => m[0]);
  assert.deepEqual(order, ['ok /a', '"url":"/echo/b"', 'ok /c']);
  const split = await raw(['GET /sp', 'lit HTTP/1.1\r\nHost: x\r\n', '\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n'], (t) => t.endsWith('ok /after'), 30);
  assert.match(split, /ok \/split/);
  assert.match(split, /ok \/after$/);
});

test('an upstream that closes a kept-alive connection: the next request is sent again on a new one', async () => {
  const out = await curl(`${base}/bye`, `${base}/plain`, `${base}/plain`);
  assert.equal(out, 'byeok /plainok /plain');
});

test('an answer cut short resets the client; contradictory framing is a 502; the broker keeps serving', async () => {
  await assert.rejects(curl(`${base}/cut`), (err: { code?: number }) => err.code === 18, 'curl: transfer closed with outstanding read data');
  const bad = await curl('-i', `${base}/contradiction`);
  assert.match(bad, /^HTTP\/1\.1 502/);
  assert.match(bad, /target_protocol_error/);
  assert.equal(await curl(`${base}/plain`), 'ok /plain');
  const records = tb.audit.records.filter((r) => r.type === 'http.request' && r.service === 'api');
  const cut = records.find((r) => r.type === 'http.request' && r.path === '/cut');
  assert.equal(cut?.type === 'http.request' && cut.outcome, 'target_protocol_error');
  const ok = records.find((r) => r.type === 'http.request' && r.path === '/echo/post');
  assert.ok(ok?.type === 'http.request' && ok.status === 200 && ok.bytesIn === 'body with length'.length && ok.bytesOut > 0, JSON.stringify(ok));
  assert.ok(!tb.output().includes(TOKEN), 'the token appears in no log or audit record');
});

test('a large answer to a client that stops reading arrives byte for byte (the broker waits for each write before reading on)', async () => {
  const { host, port } = tb.tcp('api');
  const socket = connect(port, host);
  const chunks: Buffer[] = [];
  let paused = false;
  socket.on('data', (d: Buffer) => {
    chunks.push(d);
    if (!paused) {
      // Stop reading for a while: the broker's writes back up and it must not reuse its read buffer meanwhile.
      paused = true;
      socket.pause();
      setTimeout(() => socket.resume(), 500);
    }
  });
  socket.write('GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await new Promise((r) => socket.once('close', r));
  const all = Buffer.concat(chunks);
  const body = all.subarray(all.indexOf('\r\n\r\n') + 4);
  assert.equal(body.length, BIG.length);
  assert.equal(createHash('sha256').update(body).digest('hex'), createHash('sha256').update(BIG).digest('hex'));
});
