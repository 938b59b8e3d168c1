// caching_sha2_password (MySQL 8's default) through the broker, against the protocol
// stand-in (MariaDB has no server side for it): full authentication with the RSA
// public key, then the fast path from the server's cache, full authentication over
// TLS, a rejected password. Also the client side: clients that default to
// caching_sha2_password or to another plugin log in to the broker.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import mysql from 'mysql2/promise';
import { CAP, encodePacket, packetParser } from '../../broker/connectors/mysql/codec.js';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { startCachingSha2Server, type CachingSha2Server } from '../fixtures/caching-sha2-server.js';
import { generateCerts } from '../fixtures/certs.js';
import { waitFor } from '../fixtures/wait-for.js';

const PASSWORD = `sha2-${randomBytes(12).toString('base64url')}`;
const WRONG = `wrong-${randomBytes(8).toString('hex')}`;
let plain: CachingSha2Server;
let secure: CachingSha2Server;
let tb: TestBroker;
const clientOutput: string[] = [];

function service(name: string, port: number, extra: string): string {
  return `  ${name}:\n    connector: mysql\n    listenOn: tcp://127.0.0.1:0\n    verboseClientErrors: true # the tests check each error's details\n    credentials:\n      host: 127.0.0.1\n      port: ${port}\n      username: sha2user\n${extra}`;
}

before(async () => {
  const certs = await generateCerts(mkdtempSync(join(tmpdir(), 'sl-sha2-certs-')));
  plain = await startCachingSha2Server({ users: { sha2user: PASSWORD } });
  secure = await startCachingSha2Server({ users: { sha2user: PASSWORD }, tls: { cert: certs.server.cert, key: certs.server.key } });
  tb = await startTestBroker(
    `version: "2"
services:
${service('rsa', plain.port, '      password: { from: env, get: PW }\n      sslmode: disable')}
${service('tls', secure.port, `      password: { from: env, get: PW }\n      sslmode: verify-full\n      sslrootcert: ${certs.ca.certPath}`)}
${service('wrong', plain.port, '      password: { from: env, get: PW_WRONG }\n      sslmode: disable')}
`,
    { env: { PW: PASSWORD, PW_WRONG: WRONG } },
  );
});

after(async () => {
  await tb?.stop();
  await plain?.stop();
  await secure?.stop();
});

async function currentUser(svc: string): Promise<string> {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port: tb.tcp(svc).port, user: 'anyone', password: 'ignored' });
  try {
    const [rows] = (await conn.query('SELECT CURRENT_USER()')) as unknown as [Record<string, string>[]];
    return rows[0]!['CURRENT_USER()']!;
  } finally {
    await conn.end();
  }
}

test('full authentication with the RSA public key (OAEP), then the fast path from the server cache', async () => {
  plain.clearCache();
  assert.equal(await currentUser('rsa'), 'sha2user@%');
  assert.deepEqual({ ...plain.stats }, { fastAuth: 0, fullAuthSecure: 0, fullAuthRsa: 1, publicKeyRequests: 1, rejected: 0 });
  assert.equal(await currentUser('rsa'), 'sha2user@%');
  assert.equal(plain.stats.fastAuth, 1);
  const auth = tb.audit.records.filter((r) => r.type === 'connection.authenticated' && r.service === 'rsa');
  assert.equal((auth.at(-1) as { authMethod?: string }).authMethod, 'caching_sha2_password');
});

test('full authentication over verified TLS sends the password inside TLS', async () => {
  secure.clearCache();
  assert.equal(await currentUser('tls'), 'sha2user@%');
  assert.equal(secure.stats.fullAuthSecure, 1);
  assert.equal(secure.stats.publicKeyRequests, 0);
  const auth = tb.audit.records.filter((r) => r.type === 'connection.authenticated' && r.service === 'tls');
  assert.equal((auth.at(-1) as { tls?: boolean }).tls, true);
});

test('the backend only gets flags it offered: no DEPRECATE_EOF for a server without it, and EOF-framed results still parse', () => {
  const caps = plain.lastClientCapabilities;
  assert.equal(caps & CAP.DEPRECATE_EOF, 0);
  assert.equal(caps & CAP.COMPRESS, 0);
  assert.equal(caps & CAP.QUERY_ATTRIBUTES, 0);
  assert.ok(caps & CAP.PROTOCOL_41);
});

test("a wrong configured password: 1045 naming the broker's credentials", async () => {
  const rejectedBefore = plain.stats.rejected;
  try {
    await currentUser('wrong');
    assert.fail('expected a rejection');
  } catch (err) {
    const e = err as { errno?: number; sqlState?: string; message: string };
    clientOutput.push(e.message);
    assert.equal(e.errno, 1045);
    assert.equal(e.sqlState, '28000');
    assert.match(e.message, /the target rejected the broker's configured credentials for service 'wrong' \(user 'sha2user'\)/);
  }
  assert.equal(plain.stats.rejected, rejectedBefore + 1);
});

/** Logs in to the broker with a raw handshake response naming `plugin`; returns the packets up to the end of the login. */
async function rawClient(svc: string, plugin: string, answerSwitch: boolean): Promise<{ seq: number; payload: Buffer }[]> {
  const socket = net.connect({ host: '127.0.0.1', port: tb.tcp(svc).port });
  socket.on('error', () => undefined);
  let buf = Buffer.alloc(0);
  const got: { seq: number; payload: Buffer }[] = [];
  const parse = packetParser(1 << 20);
  let onPacket: (p: { seq: number; payload: Buffer }) => void = () => undefined;
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (let p = parse(buf); p; p = parse(buf)) {
      buf = buf.subarray(p.consumed);
      got.push(p.value);
      onPacket(p.value);
    }
  });
  const next = () => new Promise<{ seq: number; payload: Buffer }>((r) => (onPacket = r));
  await next(); // greeting
  const head = Buffer.alloc(32);
  head.writeUInt32LE(CAP.LONG_PASSWORD | CAP.PROTOCOL_41 | CAP.SECURE_CONNECTION | CAP.PLUGIN_AUTH | CAP.TRANSACTIONS, 0);
  head.writeUInt32LE(1 << 24, 4);
  head[8] = 45;
  socket.write(encodePacket(1, Buffer.concat([head, Buffer.from('me\0'), Buffer.from([32]), randomBytes(32), Buffer.from(`${plugin}\0`)])));
  if (answerSwitch) {
    const sw = await next();
    assert.equal(sw.payload[0], 0xfe, 'auth switch request');
    assert.match(sw.payload.toString('latin1'), /mysql_native_password/);
    socket.write(encodePacket(sw.seq + 1, randomBytes(20)));
  }
  // Until the login ends (OK or ERR); then COM_QUIT, and everything up to the close: any
  // stray packet sent after the login's answer shows up in what is returned.
  const ended = () => got.slice(1).some((p) => p.payload[0] === 0x00 || p.payload[0] === 0xff);
  const closed = new Promise((r) => socket.once('close', r));
  await waitFor('the end of the login', ended);
  if (!socket.destroyed) socket.end(encodePacket(0, Buffer.from([0x01])));
  await closed;
  return got.slice(1);
}

test('a client defaulting to caching_sha2_password gets fast-auth success and OK', async () => {
  const packets = await rawClient('rsa', 'caching_sha2_password', false);
  assert.deepEqual(packets.map((p) => [p.seq, p.payload[0]]), [[2, 0x01], [3, 0x00]]);
  assert.deepEqual([...packets[0]!.payload], [0x01, 0x03]);
});

test('a client with another plugin is switched to mysql_native_password and logged in', async () => {
  const packets = await rawClient('rsa', 'client_ed25519', true);
  assert.deepEqual(packets.map((p) => [p.seq, p.payload[0]]), [[2, 0xfe], [4, 0x00]]);
});

test('no password in broker output (debug logs, audit) or client-visible errors', () => {
  const all = tb.output() + clientOutput.join('\n');
  assert.ok(all.length > 500);
  assert.equal(all.includes(PASSWORD), false);
  assert.equal(all.includes(WRONG), false);
});
