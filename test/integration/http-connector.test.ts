// The HTTP connector against a real nginx (auth_basic, a bearer check, TLS with a
// per-run CA) with real clients (curl, node's fetch, a raw WebSocket handshake): the
// credential is added and the client's own removed, redirects stay on the broker,
// SSE and WebSocket pass through, errors carry the catalog code, the forward proxy
// refuses what it must, garbage gets 400/408/431, and no secret shows anywhere.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { generateCerts } from '../fixtures/certs.js';
import { closedPort } from '../fixtures/free-port.js';
import { startHttpBackend, textFrame, unmask, type HttpBackend } from '../fixtures/http-backend.js';
import { startNginx, type Nginx } from '../fixtures/nginx.js';
import { waitFor } from '../fixtures/wait-for.js';

const run = promisify(execFile);
const PASSWORD = 'nginx-basic-pw-4d1f0c';
const TOKEN = 'bearer-token-9b27e3a1';
const seen: string[] = [];

let dir: string;
let backend: HttpBackend;
let nginx: Nginx;
let tb: TestBroker;
const url = (service: string, path: string) => {
  const { host, port } = tb.tcp(service);
  return `http://${host}:${port}${path}`;
};

async function curl(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run('curl', ['-sS', '--max-time', '60', ...args]);
    seen.push(echoed(stdout) ? '' : stdout, stderr);
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    seen.push(e.stdout, e.stderr);
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

async function get(u: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(u, { redirect: 'manual', ...init });
  const text = await res.text();
  // The echo backend shows what it received (the credential, by design); the rest is the broker's own.
  seen.push(echoed(text) ? '' : text, JSON.stringify([...res.headers]));
  return { status: res.status, headers: res.headers, text };
}

const echoed = (body: string) => body.startsWith('{"method"');

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sd-http-'));
  const certs = await generateCerts(join(dir, 'certs'));
  backend = await startHttpBackend();
  nginx = await startNginx({ dir: join(dir, 'nginx'), certPath: certs.server.certPath, keyPath: certs.server.keyPath, backendPort: backend.port, basic: { username: 'alice', password: PASSWORD }, bearerToken: TOKEN, clientCaPath: certs.ca.certPath });
  const down = await closedPort();
  const ca = certs.ca.certPath;
  tb = await startTestBroker(
    `version: "2"
services:
  basic:
    connector: http
    listenOn: tcp://127.0.0.1:0
    credentials: { username: alice, password: { from: env, get: BASIC_PW }, sslrootcert: ${ca} }
    config: { upstream: "${nginx.tlsUrl}/basic" }
  bearer:
    connector: http
    listenOn: tcp://127.0.0.1:0
    credentials: { token: { from: env, get: TOKEN }, sslrootcert: ${ca} }
    config: { upstream: "${nginx.tlsUrl}", headerTimeoutMs: 1500 }
  wrong-token:
    connector: http
    listenOn: tcp://127.0.0.1:0
    credentials: { token: not-the-token, sslrootcert: ${ca} }
    config: { upstream: "${nginx.tlsUrl}" }
  no-ca:
    connector: http
    listenOn: tcp://127.0.0.1:0
    credentials: { token: { from: env, get: TOKEN } }
    config: { upstream: "${nginx.tlsUrl}" }
  no-verify:
    connector: http
    listenOn: tcp://127.0.0.1:0
    credentials: { token: { from: env, get: TOKEN } }
    config: { upstream: "${nginx.tlsUrl}", verify: false }
  mtls:
    connector: http
    listenOn: tcp://127.0.0.1:0
    credentials: { token: { from: env, get: TOKEN }, sslrootcert: ${ca}, sslcert: { from: file, get: ${certs.client.certPath} }, sslkey: { from: file, get: ${certs.client.keyPath} } }
    config: { upstream: "${nginx.mtlsUrl}" }
  mtls-no-cert:
    connector: http
    listenOn: tcp://127.0.0.1:0
    credentials: { token: { from: env, get: TOKEN }, sslrootcert: ${ca} }
    config: { upstream: "${nginx.mtlsUrl}" }
  down:
    connector: http
    listenOn: tcp://127.0.0.1:0
    credentials: { token: { from: env, get: TOKEN } }
    config: { upstream: "https://127.0.0.1:${down}" }
  forward:
    connector: generic_http
    listenOn: tcp://127.0.0.1:0
    credentials: { token: { from: env, get: TOKEN }, sslrootcert: ${ca} }
    config:
      credentialValidations: { token: '[^:]+' }
      forceSSL: true
      authenticateURLsMatching:
        - ^http[s]*\\:\\/\\/localhost:${nginx.tlsPort}/
      headers:
        Authorization: Bearer {{ .token }}
`,
    { env: { BASIC_PW: PASSWORD, TOKEN } },
  );
});

after(async () => {
  await tb?.stop();
  await nginx?.stop();
  await backend?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('curl through the reverse proxy: nginx auth_basic accepts the broker\'s credential; the client\'s own Authorization never arrives', async () => {
  const r = await curl(['-H', 'Authorization: Bearer client-tries-this', '-H', 'Proxy-Authorization: Basic eHg6eXk=', url('basic', '/echo?q=1')]);
  assert.equal(r.code, 0, r.stderr);
  const echo = JSON.parse(r.stdout) as { url: string; headers: Record<string, string> };
  assert.equal(echo.url, '/basic/echo?q=1');
  assert.equal(echo.headers.authorization, `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`);
  assert.equal(echo.headers['proxy-authorization'], undefined);
  assert.equal(echo.headers.host, `localhost:${nginx.tlsPort}`);
  // Without the broker, nginx refuses.
  const direct = await curl(['-o', '/dev/null', '-w', '%{http_code}', '--cacert', join(dir, 'certs', 'ca.crt'), `${nginx.tlsUrl}/basic/echo`]);
  assert.equal(direct.stdout, '401');
});

test('node fetch through the reverse proxy with a bearer token; one audit record per request, without the query string', async () => {
  const r = await get(url('bearer', '/api/echo?api_key=client-query-secret'), { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } });
  assert.equal(r.status, 200, r.text);
  const echo = JSON.parse(r.text) as { method: string; headers: Record<string, string> };
  assert.equal(echo.method, 'POST');
  assert.equal(echo.headers.authorization, `Bearer ${TOKEN}`);
  const records = await waitFor('the http.request audit record', () => tb.audit.records.filter((x) => x.type === 'http.request' && x.service === 'bearer' && x.path === '/api/echo'));
  assert.equal(records.length, 1);
  const rec = records[0]!;
  assert.ok(rec.type === 'http.request');
  assert.equal(rec.method, 'POST');
  assert.equal(rec.status, 200);
  assert.equal(rec.outcome, 'ok');
  assert.equal(rec.host, `localhost:${nginx.tlsPort}`);
  assert.ok(rec.bytesIn > 0 && rec.bytesOut > 0);
  assert.ok(!JSON.stringify(tb.audit.records).includes('client-query-secret'));
});

test('redirects to the upstream come back as the broker\'s address, and curl -L follows them through the broker', async () => {
  const r = await get(url('bearer', '/x/redirect'));
  assert.equal(r.status, 302);
  assert.equal(r.headers.get('location'), url('bearer', '/bearer/echo?from=redirect'));
  assert.equal(r.headers.get('content-location'), '/bearer/echo');
  const followed = await curl(['-L', url('bearer', '/x/redirect')]);
  assert.equal((JSON.parse(followed.stdout) as { url: string }).url, '/bearer/echo?from=redirect');
});

test('an upstream 401 is passed through and recorded as target_rejected_credentials', async () => {
  const r = await get(url('wrong-token', '/api/echo'));
  assert.equal(r.status, 401);
  assert.match(r.text, /bearer token required/);
  await waitFor('the rejected record', () => tb.audit.records.some((x) => x.type === 'http.request' && x.service === 'wrong-token' && x.outcome === 'target_rejected_credentials' && x.status === 401));
});

test('TLS verification is on by default: an unknown CA is a 502 with the catalog code, as JSON or text', async () => {
  const json = await get(url('no-ca', '/api/echo'), { headers: { accept: 'application/json' } });
  assert.equal(json.status, 502);
  const body = JSON.parse(json.text) as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'tls_failed');
  assert.match(body.error.message, /TLS to localhost:\d+ failed/);
  const text = await get(url('no-ca', '/api/echo'));
  assert.equal(text.status, 502);
  assert.match(text.text, /tls_failed/);
  assert.match(text.headers.get('content-type') ?? '', /text\/plain/);
});

test('verify: false must be written out to skip the certificate check', async () => {
  const r = await get(url('no-verify', '/api/echo'));
  assert.equal(r.status, 200);
});

test('mTLS: a client certificate from a provider gets through nginx ssl_verify_client; without one nginx refuses', async () => {
  const r = await get(url('mtls', '/api/echo'));
  assert.equal(r.status, 200, r.text);
  assert.match((JSON.parse(r.text) as { headers: Record<string, string> }).headers['x-client-cert-subject']!, /CN=certuser/);
  const refused = await get(url('mtls-no-cert', '/api/echo'));
  assert.equal(refused.status, 400);
  assert.match(refused.text, /No required SSL certificate was sent/);
});

test('an unreachable upstream is a 502 target_unreachable', async () => {
  const r = await get(url('down', '/'), { headers: { accept: 'application/json' } });
  assert.equal(r.status, 502);
  assert.equal((JSON.parse(r.text) as { error: { code: string } }).error.code, 'target_unreachable');
});

test('server-sent events stream through the broker and nginx as they are sent', async () => {
  const res = await fetch(url('bearer', '/sse/events'));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const reader = res.body!.getReader();
  const first = await reader.read();
  // The stream is still open: the first event arrived before the response ended.
  assert.match(Buffer.from(first.value!).toString(), /data: first/);
  backend.finishEvents();
  let rest = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    rest += Buffer.from(value).toString();
  }
  assert.match(rest, /data: second/);
});

test('a WebSocket upgrade goes through with the bearer token added', async () => {
  const { host, port } = tb.tcp('bearer');
  const socket: Socket = connect(port, host);
  let buf = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => (buf = Buffer.concat([buf, d])));
  socket.write(`GET /ws/chat HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer evil\r\n\r\n`);
  await waitFor('the 101 answer and a frame', () => buf.includes('\r\n\r\n') && unmask(buf.subarray(buf.indexOf('\r\n\r\n') + 4)) !== undefined);
  const headEnd = buf.indexOf('\r\n\r\n');
  const head = buf.subarray(0, headEnd).toString();
  assert.match(head, /^HTTP\/1.1 101/);
  assert.match(head, /sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i);
  assert.equal(unmask(buf.subarray(headEnd + 4)), 'hello authorized');
  buf = Buffer.alloc(0);
  socket.write(textFrame('ping', Buffer.from([1, 2, 3, 4])));
  await waitFor('the echo frame', () => unmask(buf) !== undefined);
  assert.equal(unmask(buf), 'echo ping');
  socket.destroy();
});

test('Chromium loads a page through the reverse proxy; its fetch and WebSocket get the credential, the page never sees it', async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-sync'] });
  try {
    const page = await browser.newPage({ viewport: { width: 900, height: 320 } });
    await page.goto(url('bearer', '/app/page'));
    await page.waitForFunction(() => !document.body.textContent!.includes('…'));
    assert.match(await page.textContent('#api') ?? '', /authorized \(Bearer token added by the broker\)/);
    assert.equal(await page.textContent('#ws'), 'hello authorized');
    mkdirSync(join(process.cwd(), 'test-output'), { recursive: true });
    await page.screenshot({ path: join(process.cwd(), 'test-output', 'http-browser.png') });
    const html = await page.content();
    assert.ok(!html.includes(TOKEN));
  } finally {
    await browser.close();
  }
});

test('forward proxy (Secretless generic_http config): curl -x gets matched URLs authenticated over HTTPS, refuses others and CONNECT', async () => {
  const proxy = url('forward', '');
  const ok = await curl(['-x', proxy, `http://localhost:${nginx.tlsPort}/api/echo`]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((JSON.parse(ok.stdout) as { headers: Record<string, string> }).headers.authorization, `Bearer ${TOKEN}`);
  const refused = await curl(['-x', proxy, '-w', '\n%{http_code}', 'http://example.invalid/x']);
  assert.match(refused.stdout, /403$/);
  assert.match(refused.stdout, /refused to forward a request to example\.invalid/);
  const tunnel = await curl(['-x', proxy, '-v', `https://localhost:${nginx.tlsPort}/api/echo`]);
  assert.notEqual(tunnel.code, 0);
  assert.match(tunnel.stderr, /405/);
  await waitFor('the CONNECT record', () => tb.audit.records.some((x) => x.type === 'http.request' && x.method === 'CONNECT' && x.status === 405));
  // Reverse-mode requests to a forward proxy get a clear 400.
  const origin = await get(url('forward', '/api/echo'));
  assert.equal(origin.status, 400);
  assert.match(origin.text, /forward proxy/);
});

async function raw(service: string, bytes: string | Buffer, endAfter = false): Promise<string> {
  const { host, port } = tb.tcp(service);
  const socket = connect(port, host);
  let got = '';
  socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
  socket.on('error', () => {});
  socket.write(bytes);
  if (endAfter) socket.end();
  await new Promise((r) => socket.once('close', r));
  seen.push(got);
  return got;
}

test('garbage gets 400, huge headers 431, a slow request head 408, and the broker keeps serving', async () => {
  assert.match(await raw('bearer', 'NOT HTTP AT ALL\r\n\r\n'), /^HTTP\/1.1 400 /);
  assert.match(await raw('bearer', Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x01, 0x00, 0x00, 0xfb, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a])), /^HTTP\/1.1 400 /);
  assert.match(await raw('bearer', `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`), /^HTTP\/1.1 431 /);
  // Slowloris: a head that never ends; headerTimeoutMs is 1.5 s for this service.
  assert.match(await raw('bearer', 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n'), /^HTTP\/1.1 408 /);
  const r = await get(url('bearer', '/api/echo'));
  assert.equal(r.status, 200);
});

test('a 1 GB download and a 1 GB upload stream through the broker with flat memory', { timeout: 600_000 }, async () => {
  const GB = 1024 * 1024 * 1024;
  const rss: number[] = [];
  const sampler = setInterval(() => rss.push(process.memoryUsage().rss), 100);
  const base = process.memoryUsage().rss;
  try {
    const down = await curl(['-o', '/dev/null', '-w', '%{size_download} %{http_code}', url('bearer', `/big/download?bytes=${GB}`)]);
    assert.equal(down.stdout, `${GB} 200`);
    const up = await new Promise<string>((resolve, reject) => {
      const child = spawn('sh', ['-c', `head -c ${GB} /dev/zero | curl -sS --max-time 300 -T - -H 'content-type: application/octet-stream' '${url('bearer', '/big/upload')}'`]);
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`curl exited ${code}`))));
    });
    assert.match(up, /^\{/, up);
    assert.equal((JSON.parse(up) as { bytes: number }).bytes, GB);
  } finally {
    clearInterval(sampler);
  }
  const peak = Math.max(...rss) - base;
  // A buffered body would be 1 GB; streaming keeps the broker within a few pool buffers.
  assert.ok(peak < 300 * 1024 * 1024, `broker memory grew by ${Math.round(peak / 1048576)} MB during the transfers`);
  console.log(`# 1 GB down+up: peak RSS growth ${Math.round(peak / 1048576)} MB`);
});

test('no secret appears in logs, audit, errors or responses the broker made', () => {
  const everything = tb.output() + seen.join('\n');
  assert.ok(seen.length > 20);
  for (const secret of [PASSWORD, TOKEN, Buffer.from(`alice:${PASSWORD}`).toString('base64')]) {
    assert.ok(!everything.includes(secret), 'a secret appeared in broker output or a broker-made response');
  }
});
