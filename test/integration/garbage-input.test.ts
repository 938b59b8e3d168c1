// Bad input never takes the broker down: every connector's listener gets random bytes,
// truncated and oversized frames, and bytes of the wrong protocol, many times over; each
// such connection is closed (or answered with an error), no exception escapes (the test
// runner fails a file on an uncaught exception), and afterwards every listener still
// answers a well-formed client.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { closedPort } from '../fixtures/free-port.js';
import { makeKey } from '../fixtures/sshd.js';
import { waitFor } from '../fixtures/wait-for.js';

let dir: string;
let tb: TestBroker;
let agentSocket: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sd-garbage-'));
  const key = makeKey(dir, 'agent-key', 'ed25519');
  const client = makeKey(dir, 'client-key', 'ed25519');
  const down = await closedPort();
  agentSocket = join(dir, 'agent.sock');
  tb = await startTestBroker(
    `version: "2"
services:
  pg:
    connector: pg
    listenOn: tcp://127.0.0.1:0
    credentials: { host: 127.0.0.1, port: ${down}, username: u, password: { from: env, get: PW }, sslmode: disable }
    config: { authTimeoutMs: 2000 }
  mysql:
    connector: mysql
    listenOn: tcp://127.0.0.1:0
    credentials: { host: 127.0.0.1, port: ${down}, username: u, password: { from: env, get: PW }, sslmode: disable }
    config: { authTimeoutMs: 2000 }
  ssh:
    connector: ssh
    listenOn: tcp://127.0.0.1:0
    credentials: { address: "127.0.0.1:${down}", user: u, password: { from: env, get: PW }, hostKey: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU" }
    config: { authorizedKeys: ${client.path}.pub, hostKeyDir: ${join(dir, 'state')}, authTimeoutMs: 2000 }
  agent:
    connector: ssh-agent
    listenOn: unix://${agentSocket}
    credentials: { key: { from: file, get: ${key.path} } }
  tunnel:
    connector: ssh-tunnel
    listenOn: tcp://127.0.0.1:0
    credentials: { address: "127.0.0.1:${down}", user: u, password: { from: env, get: PW }, hostKey: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", remoteHost: 127.0.0.1, remotePort: 5432 }
`,
    { env: { PW: 'garbage-test-password' } },
  );
});

after(async () => {
  await tb?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const mysqlPacket = (seq: number, body: Buffer) => Buffer.concat([Buffer.from([body.length & 0xff, (body.length >> 8) & 0xff, body.length >> 16, seq]), body]);

/** Inputs any listener may get, plus each protocol's own framing with nonsense inside. */
function inputs(): Buffer[] {
  const generic = [
    Buffer.alloc(0),
    randomBytes(1),
    randomBytes(7),
    randomBytes(300),
    randomBytes(70_000),
    Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'),
    Buffer.from('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', 'latin1'), // a TLS ClientHello start
  ];
  const pg = [
    Buffer.concat([u32(8), u32(80877103)]), // SSLRequest, then nothing
    Buffer.concat([u32(0xffffff00), randomBytes(16)]), // huge declared length
    Buffer.concat([u32(40), u32(196608), randomBytes(32)]), // startup with random parameters
    Buffer.concat([u32(9), u32(196608), Buffer.from([0])]), // startup with no user
  ];
  const mysql = [
    mysqlPacket(1, randomBytes(40)),
    mysqlPacket(1, Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff]), randomBytes(60)])),
    Buffer.from([0xff, 0xff, 0xff, 1, 0x00]), // a 16 MiB packet that never comes
  ];
  const ssh = [
    Buffer.concat([Buffer.from('SSH-2.0-fuzz\r\n'), randomBytes(2048)]),
    Buffer.concat([Buffer.from('SSH-2.0-fuzz\r\n'), u32(0x7fffffff), randomBytes(64)]),
    Buffer.concat([Buffer.from('SSH-1.5-old\r\n'), randomBytes(64)]),
    Buffer.from('SSH-2.0-' + 'x'.repeat(400) + '\r\n'),
  ];
  const agent = [
    Buffer.concat([u32(1), Buffer.from([11])]), // list keys, valid
    Buffer.concat([u32(5), Buffer.from([13]), randomBytes(4)]), // sign request, truncated body
    Buffer.concat([u32(0x40000000), Buffer.from([13])]), // 1 GiB frame
    Buffer.concat([u32(64), Buffer.from([17]), randomBytes(63)]), // add identity with garbage
  ];
  return [...generic, ...pg, ...mysql, ...ssh, ...agent];
}

/** Sends input, reads whatever comes back until the broker closes or 4 s pass. */
async function poke(connect: () => net.Socket, input: Buffer): Promise<void> {
  const sock = connect();
  sock.on('error', () => {}); // a reset is one way for the broker to refuse
  sock.resume();
  const closed = new Promise((r) => sock.once('close', r));
  await Promise.race([new Promise((r) => sock.once('connect', r)), closed]);
  if (input.length && sock.writable) sock.write(input);
  // A bound, not a wait for something: a broker may rightly keep waiting for the rest of a
  // valid-looking prefix; what is tested is that it survives, not when it closes.
  await Promise.race([closed, new Promise((r) => setTimeout(r, 4_000))]);
  sock.destroy();
}

test('every listener survives random, truncated, oversized and foreign-protocol input, and then serves a well-formed client', async () => {
  const targets: Array<[string, () => net.Socket]> = [
    ...['pg', 'mysql', 'ssh', 'tunnel'].map((name): [string, () => net.Socket] => [name, () => net.connect(tb.tcp(name).port, '127.0.0.1')]),
    ['agent', () => net.connect(agentSocket)],
  ];
  for (const [, connect] of targets) {
    // In parallel per listener, so the whole sweep stays within a few seconds.
    await Promise.all(inputs().map((input) => poke(connect, input)));
  }
  await assertServesWellFormedClients();
});

/** Every listener still answers a well-formed client the way it should (the broker did not crash or wedge). */
async function assertServesWellFormedClients(): Promise<void> {
  // pg: a proper startup gets the catalog's "could not be reached" ErrorResponse (the target is down; TCP: no address, a reference).
  const pg = net.connect(tb.tcp('pg').port, '127.0.0.1');
  const user = Buffer.from('user\0x\0database\0x\0\0');
  pg.write(Buffer.concat([u32(8 + user.length), u32(196608), user]));
  const [pgReply] = (await once(pg, 'data')) as [Buffer];
  pg.destroy();
  assert.equal(String.fromCharCode(pgReply[0]!), 'E');
  assert.match(pgReply.toString('latin1'), /the target could not be reached \(reference /);

  // mysql: the broker's greeting; after a handshake response, an ERR for the unreachable target.
  const my = net.connect(tb.tcp('mysql').port, '127.0.0.1');
  let myReply = Buffer.alloc(0);
  my.on('data', (d: Buffer) => {
    const greeted = myReply.length === 0;
    myReply = Buffer.concat([myReply, d]);
    if (!greeted) return;
    // CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH, user "x", no password.
    const flags = Buffer.alloc(4);
    flags.writeUInt32LE(0x200 | 0x8000 | 0x80000);
    const body = Buffer.concat([flags, u32(1 << 24).reverse(), Buffer.from([33]), Buffer.alloc(23), Buffer.from('x\0'), Buffer.from([0]), Buffer.from('mysql_native_password\0')]);
    my.write(mysqlPacket(1, body));
  });
  await waitFor(() => `the ERR for the unreachable target in: ${myReply.toString('latin1')}`, () => /the target could not be reached \(reference /.test(myReply.toString('latin1')));
  my.destroy();

  // ssh: the broker's version line.
  const ssh = net.connect(tb.tcp('ssh').port, '127.0.0.1');
  const [banner] = (await once(ssh, 'data')) as [Buffer];
  ssh.destroy();
  assert.match(banner.toString('latin1'), /^SSH-2\.0-SecretlessDesktop/);

  // agent: list keys answers with one identity.
  const agent = net.connect(agentSocket);
  agent.write(Buffer.concat([u32(1), Buffer.from([11])]));
  const [answer] = (await once(agent, 'data')) as [Buffer];
  agent.destroy();
  assert.equal(answer[4], 12, 'SSH_AGENT_IDENTITIES_ANSWER');
  assert.equal(answer.readUInt32BE(5), 1);

  assert.ok(!tb.output().includes('garbage-test-password'));
}
