// Descriptor exhaustion: the real `serve --ui` under a low open-file limit (prlimit).
// Node raises the soft limit to the hard one at start; the broker caps open client
// connections below what the limit allows (two descriptors each, a reserve kept), so a
// flood of clients gets the protocol's own "too many connections" (psql, mariadb) rather
// than a bare reset (HTTP clients a 503 with Retry-After), the control API stays
// reachable, and the audit log says so once.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { closedPort, freePort } from '../fixtures/free-port.js';
import { clientEnv, run } from '../fixtures/run.js';
import { waitFor } from '../fixtures/wait-for.js';

const CLI = join(process.cwd(), 'bin', 'secretless-desktop.js');
const SOFT = 100;
const HARD = 300;
const LIMIT = (HARD - 128) / 2; // the default: two descriptors per connection, 128 in reserve
let dir: string;
let child: ChildProcess;
let output = '';
let pgPort: number;
let myPort: number;
let httpPort: number;
let upstream: Server;
const auditPath = () => join(dir, 'audit.jsonl');

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sl-fdlimit-'));
  [pgPort, myPort, httpPort] = [await freePort(), await freePort(), await freePort()];
  upstream = createServer((_req, res) => res.end('hello from the upstream\n'));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const down = await closedPort();
  writeFileSync(
    join(dir, 'secretless.yml'),
    `version: "2"
services:
  db:
    connector: pg
    listenOn: tcp://127.0.0.1:${pgPort}
    credentials: { host: 127.0.0.1, port: ${down}, username: app, sslmode: disable }
  maria:
    connector: mysql
    listenOn: tcp://127.0.0.1:${myPort}
    credentials: { host: 127.0.0.1, port: ${down}, username: app, sslmode: disable }
  api:
    connector: http
    listenOn: tcp://127.0.0.1:${httpPort}
    credentials: { token: not-a-real-token }
    config: { upstream: "http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}" }
`,
  );
  child = spawn('prlimit', [`--nofile=${SOFT}:${HARD}`, process.execPath, CLI, 'serve', '--ui', '-f', join(dir, 'secretless.yml'), '--audit-log', auditPath()], {
    env: { ...clientEnv(), XDG_STATE_HOME: join(dir, 'state'), XDG_CONFIG_HOME: join(dir, 'config') },
  });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  await waitFor(() => `the broker to listen; output:\n${output}`, () => /Open the Secretless Desktop UI: \S+/.test(output) && output.includes('service=maria') && output.includes('service=api'));
});

after(() => {
  child?.kill('SIGTERM');
  upstream?.close();
});

function auditRecords(): { type: string; state?: string; limit?: number; refused?: number }[] {
  return readFileSync(auditPath(), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

test('the soft open-file limit is raised to the hard one', () => {
  const line = readFileSync(`/proc/${child.pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'))!;
  assert.deepEqual(line.split(/\s{2,}/).slice(1, 3), [String(HARD), String(HARD)]);
  assert.match(output, new RegExp(`connection limit maxConnections=${LIMIT} openFileLimit=${HARD}`));
});

test('above the connection limit psql and mariadb get "too many connections", the UI stays reachable, and the audit says so once', async () => {
  // Clients that connect and say nothing hold their connection (and a descriptor) for 30 s.
  const held: net.Socket[] = [];
  for (let i = 0; i < LIMIT; i++) {
    const s = net.connect(pgPort, '127.0.0.1');
    s.on('error', () => {});
    held.push(s);
  }
  await Promise.all(held.map((s) => new Promise((r) => (s.readyState === 'open' ? r(null) : s.once('connect', r)))));
  try {
    const psql = await run('psql', ['-X', '-h', '127.0.0.1', '-p', String(pgPort), '-U', 'x', '-d', 'app', '-c', 'select 1'], { env: clientEnv({ PGSSLMODE: 'disable' }) });
    assert.notEqual(psql.code, 0);
    assert.match(psql.stderr, new RegExp(`FATAL: +the broker has ${LIMIT} connections open, its limit \\(serve --max-connections\\)`));
    const maria = await run('mariadb', ['--no-defaults', '-h', '127.0.0.1', '-P', String(myPort), '-u', 'x', '--skip-ssl', '-e', 'select 1']);
    assert.notEqual(maria.code, 0);
    assert.match(maria.stderr, /ERROR 1040 \(08004\).*the broker has \d+ connections open/);
    // curl: the HTTP service answers as an overloaded server does.
    const curl = await run('curl', ['-sS', '-i', '--max-time', '30', `http://127.0.0.1:${httpPort}/`]);
    assert.equal(curl.code, 0, curl.stderr);
    assert.match(curl.stdout, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.match(curl.stdout, /\r\nretry-after: 5\r\n/i);
    assert.match(curl.stdout, new RegExp(`\r\n\r\nsecretless-desktop: the broker has ${LIMIT} connections open, its limit \\(serve --max-connections\\); service 'api' cannot take another now \\(too_many_connections\\)\n$`));
    // A flood beyond the limit: every client gets an answer, none a bare reset.
    const answers = await Promise.all(
      Array.from({ length: 40 }, () => {
        const s = net.connect(pgPort, '127.0.0.1');
        const chunks: Buffer[] = [];
        s.on('data', (d: Buffer) => chunks.push(d));
        return new Promise<string>((resolve) => {
          s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
          s.on('close', () => resolve(Buffer.concat(chunks).includes(Buffer.from('C53300')) ? '53300' : `closed with ${Buffer.concat(chunks).length} bytes`));
        });
      }),
    );
    assert.deepEqual([...new Set(answers)], ['53300']);
    const ui = /Open the Secretless Desktop UI: (\S+)/.exec(output)![1]!;
    const page = await fetch(ui);
    assert.equal(page.status, 200, 'the control API answers while the services are full');
    const limited = auditRecords().filter((r) => r.type === 'connection.limit');
    assert.deepEqual(limited, [{ ...limited[0], type: 'connection.limit', state: 'reached', limit: LIMIT, refused: 1 }]);
  } finally {
    for (const s of held) s.destroy();
  }
  await waitFor('the limit to clear in the audit', () => auditRecords().some((r) => r.type === 'connection.limit' && r.state === 'cleared'));
  const cleared = auditRecords().find((r) => r.type === 'connection.limit' && r.state === 'cleared')!;
  assert.equal(cleared.refused, 43);
  // Below the limit again, the HTTP service serves.
  const again = await run('curl', ['-sS', '--max-time', '30', `http://127.0.0.1:${httpPort}/`]);
  assert.equal(again.stdout, 'hello from the upstream\n', again.stderr);
});
