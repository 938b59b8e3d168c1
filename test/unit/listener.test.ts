import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { listen, isLoopbackAddress } from '../../broker/listeners/listener.js';
import type { Listener } from '../../broker/listeners/listener.js';
import { lookupPeer } from '../../broker/listeners/peer.js';
import type { ClientInfo } from '../../broker/audit/types.js';
import { silentLogger } from '../../broker/log.js';
import { waitFor } from '../fixtures/wait-for.js';

const local = { allowRemote: false, logger: silentLogger };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sl-listen-'));
const open: Listener[] = [];
const sockets = new Set<net.Socket>();
after(async () => {
  for (const l of open) await l.stopAccepting();
  for (const s of sockets) s.destroy();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Echo server handler that also records who connected. */
function echo(seen: ClientInfo[] = []) {
  return (socket: net.Socket, client: ClientInfo): void => {
    sockets.add(socket);
    seen.push(client);
    socket.on('error', () => {});
    socket.pipe(socket);
  };
}

async function start(...args: Parameters<typeof listen>): Promise<Listener> {
  const l = await listen(...args);
  open.push(l);
  return l;
}

/** Connects, sends a line, returns the echo (proves something accepts there). */
async function roundTrip(options: net.NetConnectOpts): Promise<string> {
  const socket = net.connect(options);
  sockets.add(socket);
  await once(socket, 'connect');
  socket.write('ping');
  const [data] = await once(socket, 'data');
  socket.destroy();
  return String(data);
}

async function connectError(options: net.NetConnectOpts): Promise<string | undefined> {
  const socket = net.connect(options);
  try {
    await once(socket, 'connect');
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  } finally {
    socket.destroy();
  }
}

let counter = 0;
const sockPath = (): string => path.join(tmp, `s${++counter}.sock`);

test('loopback detection', () => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.ok(isLoopbackAddress(a), a);
  for (const a of ['0.0.0.0', '::', '10.0.0.1', '192.0.2.1', 'localhost', '128.0.0.1']) assert.ok(!isLoopbackAddress(a), a);
});

test('tcp: loopback listener with port 0 resolved, client info given', async () => {
  const seen: ClientInfo[] = [];
  const l = await start({ type: 'tcp', host: '127.0.0.1', port: 0 }, echo(seen), local);
  assert.equal(l.address.type, 'tcp');
  assert.ok(l.address.type === 'tcp' && l.address.port > 0);
  assert.equal(l.display, `tcp://127.0.0.1:${l.address.type === 'tcp' ? l.address.port : 0}`);
  const port = l.address.type === 'tcp' ? l.address.port : 0;
  assert.equal(await roundTrip({ host: '127.0.0.1', port }), 'ping');
  assert.equal(seen.length, 1);
  assert.equal(seen[0].transport, 'tcp');
  assert.equal(seen[0].address, '127.0.0.1');
  assert.ok(typeof seen[0].port === 'number' && seen[0].port > 0);
});

test('tcp: localhost is resolved to a loopback address', async () => {
  const l = await start({ type: 'tcp', host: 'localhost', port: 0 }, echo(), local);
  assert.ok(l.address.type === 'tcp' && isLoopbackAddress(l.address.host));
});

test('tcp: non-loopback refused without allowRemote, allowed with it', async () => {
  for (const host of ['0.0.0.0', '::', '192.0.2.1']) {
    await assert.rejects(listen({ type: 'tcp', host, port: 0 }, echo(), local), /not a loopback address.*allowRemote/);
  }
  const l = await start({ type: 'tcp', host: '0.0.0.0', port: 0 }, echo(), { allowRemote: true, logger: silentLogger });
  assert.ok(l.address.type === 'tcp');
  assert.equal(l.address.host, '0.0.0.0');
  assert.equal(await roundTrip({ host: '127.0.0.1', port: l.address.port }), 'ping');
});

test('tcp: address in use gives a clear message', async () => {
  const l = await start({ type: 'tcp', host: '127.0.0.1', port: 0 }, echo(), local);
  const port = l.address.type === 'tcp' ? l.address.port : 0;
  await assert.rejects(listen({ type: 'tcp', host: '127.0.0.1', port }, echo(), local), {
    message: `address tcp://127.0.0.1:${port} is already in use`,
  });
});

test('tcp: stopAccepting frees the port and leaves open connections alone', async () => {
  const l = await listen({ type: 'tcp', host: '127.0.0.1', port: 0 }, echo(), local);
  const port = l.address.type === 'tcp' ? l.address.port : 0;
  const client = net.connect({ host: '127.0.0.1', port });
  sockets.add(client);
  await once(client, 'connect');
  await l.stopAccepting();
  await l.stopAccepting(); // idempotent
  assert.equal(await connectError({ host: '127.0.0.1', port }), 'ECONNREFUSED');
  client.write('still here');
  const [data] = await once(client, 'data');
  assert.equal(String(data), 'still here');
  client.destroy();
});

test('tcp: a throwing connection handler does not take the listener down; the next connection is served', async () => {
  let calls = 0;
  const serve = echo();
  const l = await start(
    { type: 'tcp', host: '127.0.0.1', port: 0 },
    (socket, client) => {
      // The first two connections make the handler throw; the third is echoed.
      if (++calls <= 2) throw new Error('boom');
      serve(socket, client);
    },
    local,
  );
  const port = l.address.type === 'tcp' ? l.address.port : 0;
  for (let i = 0; i < 2; i++) {
    const c = net.connect({ host: '127.0.0.1', port });
    c.on('error', () => {});
    await once(c, 'close');
  }
  assert.equal(calls, 2);
  assert.equal(await roundTrip({ host: '127.0.0.1', port }), 'ping');
  assert.equal(calls, 3);
});

test('unix: socket is mode 0600, reachable, and no temporary entry is left', async () => {
  const p = sockPath();
  const seen: ClientInfo[] = [];
  const l = await start({ type: 'unix', path: p }, echo(seen), local);
  assert.deepEqual(l.address, { type: 'unix', path: p });
  assert.equal(l.display, `unix://${p}`);
  const st = fs.lstatSync(p);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o600);
  assert.equal(await roundTrip({ path: p }), 'ping');
  assert.deepEqual(seen, [{ transport: 'unix' }]);
  assert.deepEqual(fs.readdirSync(tmp).filter((n) => n.startsWith('.')), []);
});

test('unix: relative path is made absolute', async () => {
  const p = sockPath();
  const l = await start({ type: 'unix', path: path.relative(process.cwd(), p) }, echo(), local);
  assert.deepEqual(l.address, { type: 'unix', path: p });
});

test('unix: stale socket is removed', async () => {
  const p = sockPath();
  // A socket file nobody listens on: bind, keep a second name, close (libuv unlinks the first).
  const server = net.createServer();
  server.listen(p + '.orig');
  await once(server, 'listening');
  fs.linkSync(p + '.orig', p);
  server.close();
  assert.equal(await connectError({ path: p }), 'ECONNREFUSED');
  const l = await start({ type: 'unix', path: p }, echo(), local);
  assert.equal(await roundTrip({ path: p }), 'ping');
  assert.equal(fs.lstatSync(p).mode & 0o777, 0o600);
  assert.ok(l.address.type === 'unix');
});

test('unix: a live socket is not stolen', async () => {
  const p = sockPath();
  const first = await start({ type: 'unix', path: p }, echo(), local);
  const before = fs.lstatSync(p).ino;
  await assert.rejects(listen({ type: 'unix', path: p }, echo(), local), {
    message: `address ${first.display} is already in use by another process`,
  });
  assert.equal(fs.lstatSync(p).ino, before);
  assert.equal(await roundTrip({ path: p }), 'ping');
});

test('unix: a regular file, directory or symlink is never deleted', async () => {
  const file = sockPath();
  fs.writeFileSync(file, 'precious');
  await assert.rejects(listen({ type: 'unix', path: file }, echo(), local), /exists and is a file that is not a socket.*untouched/);
  assert.equal(fs.readFileSync(file, 'utf8'), 'precious');

  const dir = sockPath();
  fs.mkdirSync(dir);
  await assert.rejects(listen({ type: 'unix', path: dir }, echo(), local), /is a directory/);
  assert.ok(fs.statSync(dir).isDirectory());

  const link = sockPath();
  fs.symlinkSync(file, link);
  await assert.rejects(listen({ type: 'unix', path: link }, echo(), local), /is a symbolic link/);
  assert.equal(fs.readlinkSync(link), file);
  assert.equal(fs.readFileSync(file, 'utf8'), 'precious');
  assert.deepEqual(fs.readdirSync(tmp).filter((n) => n.startsWith('.')), []);
});

test('unix: missing parent directory and too-long path give clear errors', async () => {
  const missing = path.join(tmp, 'no-such-dir', 'x.sock');
  await assert.rejects(listen({ type: 'unix', path: missing }, echo(), local), /directory .*no-such-dir does not exist/);
  const long = path.join(tmp, 'x'.repeat(120) + '.sock');
  await assert.rejects(listen({ type: 'unix', path: long }, echo(), local), /socket path is \d+ bytes long/);
});

test('unix: stopAccepting unlinks our socket, keeps connections', async () => {
  const p = sockPath();
  const l = await listen({ type: 'unix', path: p }, echo(), local);
  const client = net.connect({ path: p });
  sockets.add(client);
  await once(client, 'connect');
  await l.stopAccepting();
  assert.equal(fs.existsSync(p), false);
  client.write('still here');
  const [data] = await once(client, 'data');
  assert.equal(String(data), 'still here');
  client.destroy();
});

test('unix: stopAccepting leaves a path that is no longer ours', async () => {
  const p = sockPath();
  const l = await listen({ type: 'unix', path: p }, echo(), local);
  fs.unlinkSync(p);
  fs.writeFileSync(p, 'someone else');
  await l.stopAccepting();
  assert.equal(fs.readFileSync(p, 'utf8'), 'someone else');
});

test('lookupPeer finds our own pid and uid for a loopback tcp connection', async () => {
  if (process.platform !== 'linux') return;
  const peers: Promise<{ pid?: number; uid?: number }>[] = [];
  const l = await start({ type: 'tcp', host: '127.0.0.1', port: 0 }, (socket) => {
    sockets.add(socket);
    peers.push(lookupPeer(socket, { timeoutMs: 2000 }));
  }, local);
  const port = l.address.type === 'tcp' ? l.address.port : 0;
  const client = net.connect({ host: '127.0.0.1', port });
  sockets.add(client);
  await once(client, 'connect');
  await waitFor('the connection accepted', () => peers.length > 0);
  assert.deepEqual(await peers[0], { pid: process.pid, uid: process.getuid!() });
  client.destroy();
});

test('lookupPeer finds another process as the peer', async () => {
  if (process.platform !== 'linux') return;
  const peers: Promise<{ pid?: number; uid?: number }>[] = [];
  const l = await start({ type: 'tcp', host: '127.0.0.1', port: 0 }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    peers.push(lookupPeer(socket, { timeoutMs: 5000 }));
  }, local);
  const port = l.address.type === 'tcp' ? l.address.port : 0;
  const script = `const s = require('net').connect(${port}, '127.0.0.1'); s.on('error', () => {}); process.stdin.on('end', () => process.exit()); process.stdin.resume();`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'ignore', 'inherit'] });
  try {
    await waitFor('the connection accepted', () => peers.length > 0);
    assert.deepEqual(await peers[0], { pid: child.pid, uid: process.getuid!() });
  } finally {
    child.stdin!.end();
    await once(child, 'exit');
  }
});

test('lookupPeer works over IPv6 loopback and with a dual-stack listener', async (t) => {
  if (process.platform !== 'linux') return;
  const peers: Promise<{ pid?: number; uid?: number }>[] = [];
  const handler = (socket: net.Socket): void => {
    sockets.add(socket);
    peers.push(lookupPeer(socket, { timeoutMs: 2000 }));
  };
  let v6: Listener;
  try {
    v6 = await start({ type: 'tcp', host: '::1', port: 0 }, handler, local);
  } catch {
    t.skip('no IPv6 loopback');
    return;
  }
  const dual = await start({ type: 'tcp', host: '::', port: 0 }, handler, { allowRemote: true, logger: silentLogger });
  for (const [host, l] of [['::1', v6], ['127.0.0.1', dual]] as const) {
    peers.length = 0;
    const client = net.connect({ host, port: l.address.type === 'tcp' ? l.address.port : 0 });
    sockets.add(client);
    await once(client, 'connect');
    await waitFor('the connection accepted', () => peers.length > 0);
    assert.deepEqual(await peers[0], { pid: process.pid, uid: process.getuid!() }, host);
    client.destroy();
  }
});

test('lookupPeer finds this process as the peer of a unix socket client and never throws on a closed socket', async () => {
  const p = sockPath();
  const got: Promise<object>[] = [];
  await start({ type: 'unix', path: p }, (socket) => {
    sockets.add(socket);
    // The test checks what is found, not the 250 ms production bound: `ss` is slow on a loaded machine.
    got.push(lookupPeer(socket, { timeoutMs: 20_000 }));
  }, local);
  const client = net.connect({ path: p });
  sockets.add(client);
  await once(client, 'connect');
  await waitFor('the connection accepted', () => got.length > 0);
  assert.deepEqual(await got[0], { pid: process.pid, uid: process.getuid!() });
  client.destroy();
  assert.deepEqual(await lookupPeer(new net.Socket()), {});
});
