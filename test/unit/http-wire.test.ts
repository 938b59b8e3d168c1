// The fast lane's HTTP/1.1 codec: which request heads it takes (only the plainest: the
// rest goes to Node's parser), how it reads response framing, and the chunked-body
// tracker that finds where an answer ends without changing a byte.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { joinUpstream } from '../../broker/connectors/http/request-head.js';
import { ChunkedTracker, MAX_FAST_HEAD_BYTES, parseRequestHead, parseResponseHead, serializeFields } from '../../broker/connectors/http/wire.js';

const req = (s: string) => parseRequestHead(Buffer.from(s, 'latin1'));
const res = (s: string, method = 'GET') => parseResponseHead(Buffer.from(s, 'latin1'), method);

test('a plain request head is parsed: method, target, headers as sent, body length, Connection: close', () => {
  const r = req('POST /v1/items?x=1 HTTP/1.1\r\nHost: api.local\r\nContent-Length:  5 \r\nX-Trace: a\tb\r\nConnection: keep-alive, close\r\n\r\nhelloGET');
  assert.equal(r.type, 'head');
  if (r.type !== 'head') return;
  assert.equal(r.method, 'POST');
  assert.equal(r.target, '/v1/items?x=1');
  assert.deepEqual(r.rawHeaders, ['Host', 'api.local', 'Content-Length', '5', 'X-Trace', 'a\tb', 'Connection', 'keep-alive, close']);
  assert.equal(r.host, 'api.local');
  assert.equal(r.contentLength, 5);
  assert.equal(r.close, true);
  assert.equal(Buffer.from('POST /v1/items?x=1 HTTP/1.1\r\nHost: api.local\r\nContent-Length:  5 \r\nX-Trace: a\tb\r\nConnection: keep-alive, close\r\n\r\n').length, r.end);
});

test('a head not yet complete is incomplete; past the size limit it is for Node (431 there)', () => {
  assert.deepEqual(req('GET / HTTP/1.1\r\nHost: a\r\n'), { type: 'incomplete' });
  assert.deepEqual(req(`GET / HTTP/1.1\r\nX: ${'a'.repeat(MAX_FAST_HEAD_BYTES)}`), { type: 'other' });
  assert.deepEqual(req(`GET / HTTP/1.1\r\nX: ${'a'.repeat(MAX_FAST_HEAD_BYTES)}\r\n\r\n`), { type: 'other' });
});

test('anything but the plainest request goes to Node: framing a proxy could read differently, upgrades, odd syntax', () => {
  const other = [
    'GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n', // chunked bodies
    'POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n', // repeated length
    'POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n',
    'POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n',
    'POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n',
    'GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    'GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n',
    'PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', // two hosts
    'GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n', // obs-fold
    'GET / HTTP/1.1\r\nX : a\r\n\r\n', // space before the colon
    'GET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n', // a bare LF inside the head
    'GET / HTTP/1.1\r\nX: a\0b\r\n\r\n',
    'GET / HTTP/1.0\r\n\r\n', // HTTP/1.0: keep-alive rules differ
    'GET http://example.com/ HTTP/1.1\r\n\r\n', // absolute-form (proxy request)
    'CONNECT a:443 HTTP/1.1\r\n\r\n',
    'get / HTTP/1.1\r\n\r\n',
    'GET /a b HTTP/1.1\r\n\r\n',
    'GET /a#frag HTTP/1.1\r\n\r\n',
    'GET /a\\b HTTP/1.1\r\n\r\n',
    'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    'garbage\r\n\r\n',
  ];
  for (const head of other) assert.deepEqual(req(head), { type: 'other' }, JSON.stringify(head));
});

test('response framing: length, chunked, none (HEAD, 1xx, 204, 304), close-delimited; contradictions are invalid', () => {
  const framing = (s: string, method?: string) => {
    const r = res(s, method);
    return r.type === 'head' ? [r.framing, r.keepAlive] : r.type;
  };
  assert.deepEqual(framing('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n'), [{ type: 'length', bytes: 3 }, true]);
  assert.deepEqual(framing('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), [{ type: 'chunked' }, true]);
  assert.deepEqual(framing('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n', 'HEAD'), [{ type: 'none' }, true]);
  assert.deepEqual(framing('HTTP/1.1 204 No Content\r\n\r\n'), [{ type: 'none' }, true]);
  assert.deepEqual(framing('HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n'), [{ type: 'none' }, true]);
  assert.deepEqual(framing('HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n'), [{ type: 'none' }, true]);
  assert.deepEqual(framing('HTTP/1.1 200 OK\r\n\r\nall until close'), [{ type: 'close' }, false]);
  assert.deepEqual(framing('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n'), [{ type: 'length', bytes: 1 }, false]);
  assert.deepEqual(framing('HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n'), [{ type: 'length', bytes: 1 }, false]);
  assert.deepEqual(framing('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n'), [{ type: 'length', bytes: 1 }, true]);
  assert.equal(framing('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n'), 'invalid');
  assert.equal(framing('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n'), 'invalid');
  assert.equal(framing('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n'), 'invalid');
  assert.equal(framing('HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n'), 'invalid');
  assert.equal(framing('HTTP/2 200\r\n\r\n'), 'invalid');
  assert.equal(framing('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n'), 'incomplete');
});

test('response headers: lowercase names, repeated fields as arrays, values trimmed', () => {
  const r = res('HTTP/1.1 302 Found\r\nSet-Cookie: a=1\r\nLocation:  /next \r\nset-cookie: b=2\r\nContent-Length: 0\r\n\r\n');
  assert.equal(r.type, 'head');
  if (r.type !== 'head') return;
  assert.equal(r.status, 302);
  assert.deepEqual(r.headers, { 'set-cookie': ['a=1', 'b=2'], location: '/next', 'content-length': '0' });
  assert.equal(serializeFields(r.headers), 'set-cookie: a=1\r\nset-cookie: b=2\r\nlocation: /next\r\ncontent-length: 0\r\n');
});

const CHUNKED = '4;name=value\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\n';

test('the chunked tracker finds the end of a body however it is split, and counts payload bytes', () => {
  const body = Buffer.from(CHUNKED + 'NEXT', 'latin1');
  const whole = new ChunkedTracker();
  assert.equal(whole.feed(body), CHUNKED.length);
  assert.equal(whole.dataBytes, 23);
  // Every split point, and byte by byte.
  for (let cut = 1; cut < CHUNKED.length; cut++) {
    const t = new ChunkedTracker();
    assert.equal(t.feed(body.subarray(0, cut)), -1, `cut ${cut}`);
    assert.equal(t.feed(body.subarray(cut)), CHUNKED.length - cut, `cut ${cut}`);
  }
  const t = new ChunkedTracker();
  let end = -1;
  for (let i = 0; i < body.length && end < 0; i++) end = t.feed(body.subarray(i, i + 1)) >= 0 ? i : -1;
  assert.equal(end, CHUNKED.length - 1);
  // The offset form: a body that starts inside a buffer.
  assert.equal(new ChunkedTracker().feed(Buffer.from(`HEAD${CHUNKED}`, 'latin1'), 4), CHUNKED.length + 4);
  assert.equal(new ChunkedTracker().feed(Buffer.from('0\r\n\r\n')), 5);
});

test('malformed chunked framing is an error, not a guess', () => {
  for (const bad of ['x\r\n', '\r\n', '4\r\nWikiX\r\n', '4\r\nWiki\rX', '4\nWiki', '1234567890abc\r\n', '0\r\nbad\nline\r\n\r\n']) {
    assert.throws(() => new ChunkedTracker().feed(Buffer.from(bad, 'latin1')), Error, JSON.stringify(bad));
  }
});

test("the fast lane's one-parse upstream URL (base + target) is joinUpstream's, for every target it accepts", () => {
  const targets = ['/', '/a', '/a/', '/a/../../b', '//evil.example/x', '/%2e%2e/x', '/a?b=1&c=%20', '/a?', '/\u00e9'.normalize(), '/a;b', "/a'b\"c<d>", '/api/v1?x=/y?z'];
  for (const upstream of ['http://up.local', 'http://up.local:8080/base', 'https://up.local/base/', 'http://[::1]:9/b']) {
    const u = new URL(upstream);
    const base = u.origin + u.pathname.replace(/\/+$/, '');
    for (const t of targets) {
      if (req(`GET ${t} HTTP/1.1\r\n\r\n`).type !== 'head') continue;
      assert.equal(new URL(base + t).href, joinUpstream(u, t).href, `${upstream} + ${t}`);
    }
  }
});
