// The same-user decision and the platform lookups behind it: Linux against real sockets
// (and a recorded /proc/net/tcp with a closed client), macOS and Windows against
// recorded output of the tools they run (the test machines run Linux).
import assert from 'node:assert/strict';
import net from 'node:net';
import os from 'node:os';
import { test } from 'node:test';
import { decideSameUser, refusalMessage } from '../../broker/access/same-user.js';
import { findClientRow, findRow, ipv6Bytes, linuxSocketOwner, ownerOfRow, procHex } from '../../broker/access/socket-owner-linux.js';
import { createNetlinkLookup } from '../../broker/access/socket-owner-netlink.js';
import { clientPidFromNetstat } from '../../broker/access/socket-owner-macos.js';
import { ownerScript, parseOwnerOutput } from '../../broker/access/socket-owner-windows.js';
import { tcpEnds, type SocketOwner, type TcpEnds } from '../../broker/access/socket-owner.js';

const alice = { uid: 1000, name: 'alice' };
const user = (uid: number | string, name?: string): SocketOwner => ({ type: 'user', uid, ...(name ? { name } : {}) });

test('the decision: own user in, others out unless the service shares with them by uid or name, or with anyone', () => {
  assert.deepEqual(decideSameUser({}, alice, user(1000)), { allowed: true });
  assert.deepEqual(decideSameUser({}, alice, user(1001, 'bob')), { allowed: false, message: "connection refused: the broker serves only user 'alice'" });
  // Root is no exception.
  assert.equal(decideSameUser({}, alice, user(0, 'root')).allowed, false);
  assert.equal(decideSameUser({ allowUsers: ['bob'] }, alice, user(1001, 'bob')).allowed, true);
  assert.equal(decideSameUser({ allowUsers: [1001] }, alice, user(1001)).allowed, true);
  assert.equal(decideSameUser({ allowUsers: ['1001'] }, alice, user(1001)).allowed, true);
  assert.equal(decideSameUser({ allowUsers: ['bob'] }, alice, user(1002, 'carol')).allowed, false);
  // A name never matches a uid that merely looks like it, nor a user whose name is unknown.
  assert.equal(decideSameUser({ allowUsers: ['bob'] }, alice, user(1001)).allowed, false);
  assert.equal(decideSameUser({ allowAnyUser: true }, alice, user(1002, 'carol')).allowed, true);
});

test('an owner that cannot be found (another machine, a closed socket) is refused unless the service is open to anyone', () => {
  const unknown: SocketOwner = { type: 'unknown', reason: 'no local socket' };
  assert.equal(decideSameUser({}, alice, unknown).allowed, false);
  assert.equal(decideSameUser({ allowUsers: ['bob'] }, alice, unknown).allowed, false);
  assert.equal(decideSameUser({ allowAnyUser: true }, alice, unknown).allowed, true);
});

test('Windows: SIDs compare exactly, names case-insensitively with or without the domain', () => {
  const self = { uid: 'S-1-5-21-1-2-3-1001', name: 'HOST\\alice' };
  assert.equal(decideSameUser({}, self, user('S-1-5-21-1-2-3-1001'), 'win32').allowed, true);
  const bob = user('S-1-5-21-1-2-3-1002', 'HOST\\Bob');
  assert.equal(decideSameUser({}, self, bob, 'win32').allowed, false);
  assert.equal(decideSameUser({ allowUsers: ['bob'] }, self, bob, 'win32').allowed, true);
  assert.equal(decideSameUser({ allowUsers: ['host\\BOB'] }, self, bob, 'win32').allowed, true);
  assert.equal(decideSameUser({ allowUsers: ['OTHER\\bob'] }, self, bob, 'win32').allowed, false);
  assert.equal(decideSameUser({ allowUsers: ['S-1-5-21-1-2-3-1002'] }, self, bob, 'win32').allowed, true);
  // On POSIX names are case-sensitive.
  assert.equal(decideSameUser({ allowUsers: ['Bob'] }, alice, user(1001, 'bob')).allowed, false);
});

test('the refusal names the broker user and whom the service is shared with', () => {
  assert.equal(refusalMessage({ allowUsers: ['bob', 1005] }, alice), "connection refused: the broker serves only user 'alice' and, for this service, 'bob', uid 1005");
});

/** A connected pair on host; the server side's ends, as the broker sees them. */
async function pair(host: string, listenHost = host): Promise<{ ends: TcpEnds; close(): void }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, listenHost, () => r()));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = net.connect((server.address() as net.AddressInfo).port, host);
  const socket = await accepted;
  return {
    ends: tcpEnds(socket)!,
    close() {
      client.destroy();
      socket.destroy();
      server.close();
    },
  };
}

test('Linux: the owner of a real loopback client socket is this process user, over IPv4, IPv6 and a dual-stack listener', async () => {
  for (const [host, listenHost] of [['127.0.0.1', '127.0.0.1'], ['::1', '::1'], ['127.0.0.1', '::']] as const) {
    const p = await pair(host, listenHost);
    try {
      assert.deepEqual(await linuxSocketOwner(p.ends), { type: 'user', uid: process.getuid!() }, `${host} via ${listenHost}`);
    } finally {
      p.close();
    }
  }
  // The /proc/net/tcp scan (the fallback without python3) finds the same owner as netlink.
  const p = await pair('127.0.0.1');
  try {
    assert.equal((await findClientRow(p.ends))?.uid, process.getuid!());
    // In-process (the native module, built on Linux by the test script) and by the helper.
    const netlink = createNetlinkLookup();
    assert.equal(netlink.inProcess, true, 'the native sock_diag lookup is built and loaded');
    for (const lookup of [netlink, createNetlinkLookup('python3', { native: false })]) {
      assert.equal(await lookup.ready(), true);
      const row = await lookup.find('ipv4', Buffer.from([127, 0, 0, 1]), p.ends.clientPort, Buffer.from([127, 0, 0, 1]), p.ends.localPort);
      assert.ok(row !== 'unavailable' && row?.uid === process.getuid!() && row.inode !== '0', JSON.stringify(row));
      assert.equal(row.inode, (await findClientRow(p.ends))?.inode, 'the same socket as /proc/net/tcp names');
      lookup.close();
    }
    // Without the module and the helper the lookup says so, and linuxSocketOwner falls back to /proc.
    const missing = createNetlinkLookup('/nonexistent/python3', { native: false });
    assert.equal(await missing.ready(), false);
    assert.equal(await missing.find('ipv4', Buffer.from([127, 0, 0, 1]), p.ends.clientPort, Buffer.from([127, 0, 0, 1]), p.ends.localPort), 'unavailable');
  } finally {
    p.close();
  }
  // Ends that match no socket: a peer elsewhere.
  const nowhere = await linuxSocketOwner({ clientAddress: '10.1.2.3', clientPort: 40000, localAddress: '127.0.0.1', localPort: 1 });
  assert.equal(nowhere.type, 'unknown');
});

for (const native of [true, false]) test(`Linux: lookups asked together (clients accepted at once) each get their own socket, IPv4 and IPv6 (${native ? 'in-process' : 'helper'})`, async () => {
  const pairs = await Promise.all([pair('127.0.0.1'), pair('127.0.0.1'), pair('::1'), pair('127.0.0.1')]);
  // The helper does not keep the process alive: the open sockets do while it starts.
  const netlink = createNetlinkLookup('python3', { native });
  assert.equal(netlink.inProcess, native);
  try {
    assert.equal(await netlink.ready(), true);
    const bytes = (a: string) => (net.isIPv4(a) ? Buffer.from(a.split('.').map(Number)) : ipv6Bytes(a));
    const ask = (e: TcpEnds) => netlink.find(net.isIPv4(e.clientAddress) ? 'ipv4' : 'ipv6', bytes(e.clientAddress), e.clientPort, bytes(e.localAddress), e.localPort);
    // A port nobody uses, asked in the same batch: no row, and no answer mixed up with it.
    const rows = await Promise.all([...pairs.map((p) => ask(p.ends)), ask({ ...pairs[0]!.ends, clientPort: 1 })]);
    for (const [i, row] of rows.slice(0, -1).entries()) assert.ok(row !== 'unavailable' && row?.uid === process.getuid!() && row.inode !== '0', `${i}: ${JSON.stringify(row)}`);
    assert.equal(new Set(rows.slice(0, -1).map((r) => (r as { inode: string }).inode)).size, pairs.length);
    assert.equal(rows.at(-1), undefined);
  } finally {
    for (const p of pairs) p.close();
    netlink.close();
  }
});

test('Linux: a client already closed (uid 0, inode 0 in TIME_WAIT/FIN_WAIT2) is unknown, not root', async () => {
  const ends: TcpEnds = { clientAddress: '127.0.0.1', clientPort: 0xd431, localAddress: '127.0.0.1', localPort: 5432 };
  const lo = procHex(Buffer.from([127, 0, 0, 1]));
  const table = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    `   0: ${lo}:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 20857 1 0000000000000000 100 0 0 10 0`,
    `   1: ${lo}:D431 ${lo}:1538 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000`,
  ].join('\n');
  const row = await findClientRow(ends, async (file, key) => (file === '/proc/net/tcp' ? findRow(table, key) : undefined));
  assert.deepEqual(row, { uid: 0, inode: '0' });
  assert.equal(ownerOfRow(row).type, 'unknown');
  assert.deepEqual(ownerOfRow({ uid: 1001, inode: '4711' }), { type: 'user', uid: 1001 });
  // The listening row (same local port, remote 0) is never taken for the client's.
  assert.equal(findRow(table, `${lo}:1538 ${lo}:D431 `), undefined);
  // As the kernel prints an IPv4-mapped address in tcp6 (x86: little-endian words).
  if (os.endianness() === 'LE') assert.equal(procHex(ipv6Bytes('::ffff:127.0.0.1')), '0000000000000000FFFF00000100007F');
  assert.equal(ipv6Bytes('fe80::1:2%eth0').toString('hex'), 'fe800000000000000000000000010002');
});

// Recorded `netstat -anv -p tcp` output: macOS 12 (pid column) and macOS 14 (process:pid).
const NETSTAT_12 = `Active Internet connections (including servers)
Proto Recv-Q Send-Q  Local Address          Foreign Address        (state)     rhiwat shiwat    pid   epid  state    options
tcp4       0      0  127.0.0.1.5432         127.0.0.1.61234        ESTABLISHED 408300 146988    812      0 0x0182 0x00000004
tcp4       0      0  127.0.0.1.61234        127.0.0.1.5432         ESTABLISHED 408300 146988   4711      0 0x0102 0x00000000
tcp4       0      0  127.0.0.1.5432         *.*                    LISTEN      131072 131072    812      0 0x0180 0x00000106
`;
const NETSTAT_14 = `Active Internet connections (including servers)
Proto Recv-Q Send-Q  Local Address          Foreign Address        (state)      rxbytes      txbytes  rhiwat  shiwat process:pid   state  options           gencnt    flags   flags1 usscnt rtncnt fltrs
tcp6       0      0  ::1.5432               ::1.50001              ESTABLISHED        120          512  408300  146988 node:812      00182 00000004 0000000000051f1c 00000080 01000900      1      0 000001
tcp6       0      0  ::1.50001              ::1.5432               ESTABLISHED        512          120  408300  146988 psql:4712     00102 00000000 0000000000051f1b 00000080 00000800      1      0 000001
`;

test('macOS: the pid of the client socket from recorded netstat output, whichever the column layout', () => {
  assert.equal(clientPidFromNetstat(NETSTAT_12, { clientAddress: '127.0.0.1', clientPort: 61234, localAddress: '127.0.0.1', localPort: 5432 }), 4711);
  assert.equal(clientPidFromNetstat(NETSTAT_12, { clientAddress: '::ffff:127.0.0.1', clientPort: 61234, localAddress: '::ffff:127.0.0.1', localPort: 5432 }), 4711);
  assert.equal(clientPidFromNetstat(NETSTAT_14, { clientAddress: '::1', clientPort: 50001, localAddress: '::1', localPort: 5432 }), 4712);
  // Our own end of the connection is not the client's.
  assert.equal(clientPidFromNetstat(NETSTAT_12, { clientAddress: '127.0.0.1', clientPort: 5432, localAddress: '127.0.0.1', localPort: 61234 }), 812);
  assert.equal(clientPidFromNetstat(NETSTAT_12, { clientAddress: '10.0.0.9', clientPort: 61234, localAddress: '127.0.0.1', localPort: 5432 }), undefined);
  assert.equal(clientPidFromNetstat('netstat: sysctl: Operation not permitted', { clientAddress: '127.0.0.1', clientPort: 1, localAddress: '127.0.0.1', localPort: 2 }), undefined);
});

test('Windows: the PowerShell answer is parsed; an unreadable owner or a vanished process is unknown', () => {
  assert.deepEqual(parseOwnerOutput('owner 4711 0 S-1-5-21-1004336348-1177238915-682003330-1001 HOST\\alice\r\n'), { type: 'user', uid: 'S-1-5-21-1004336348-1177238915-682003330-1001', name: 'HOST\\alice' });
  assert.equal(parseOwnerOutput('owner 4711 2  \\\r\n').type, 'unknown');
  assert.equal(parseOwnerOutput('gone 4711\r\n').type, 'unknown');
  assert.equal(parseOwnerOutput('none\r\n').type, 'unknown');
  assert.equal(parseOwnerOutput('').type, 'unknown');
});

test('Windows: the script takes only the kernel-reported addresses and numeric ports', () => {
  const script = ownerScript({ clientAddress: '::ffff:127.0.0.1', clientPort: 50001, localAddress: '::ffff:127.0.0.1', localPort: 5432 });
  assert.match(script, /-LocalAddress '127\.0\.0\.1' -LocalPort 50001 -RemoteAddress '127\.0\.0\.1' -RemotePort 5432/);
  assert.throws(() => ownerScript({ clientAddress: "1'; Remove-Item C:\\ -Recurse; '", clientPort: 1, localAddress: '::1', localPort: 2 }), /unexpected address/);
});
