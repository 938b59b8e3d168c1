// Linux: the owner of the client's socket, by an exact netlink lookup of its 4-tuple
// (socket-owner-netlink.ts), or, where that is unavailable, from the row of
// /proc/net/tcp (or tcp6) whose local end is the client's address:port and whose remote
// end is ours: its uid column is the socket's owner. A read of that table (stopped at the row) and a substring search: no scan of
// processes or fds. Its cost is the kernel's walk of its connection hash table, which
// grows with the machine's TCP sockets (see the same-user benchmark).
// Only sockets in our network namespace are listed, which is exactly the set of local
// processes; a peer on another machine (or in a container's namespace) has no row.
import { open } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import type { ProcTcpRow, SocketOwner, TcpEnds } from './socket-owner.js';
import { createNetlinkLookup, type NetlinkLookup } from './socket-owner-netlink.js';

let netlink: NetlinkLookup | undefined;

/** The netlink lookup when it is available (socket-owner-netlink.ts), else a scan of /proc/net/tcp. */
export async function linuxSocketOwner(ends: TcpEnds): Promise<SocketOwner> {
  const fast = await exactLookup(ends);
  return ownerOfRow(fast === 'unavailable' ? await findClientRow(ends) : fast);
}

function exactLookup(ends: TcpEnds): Promise<ProcTcpRow | undefined | 'unavailable'> {
  const client = addressHex(ends.clientAddress);
  const local = addressHex(ends.localAddress);
  netlink ??= createNetlinkLookup();
  // An IPv4 query also finds an IPv6 socket connected to a v4-mapped address (same hash table).
  if (client.family !== local.family || !client.family) return Promise.resolve(undefined);
  return netlink.find(client.family, client.hex, ends.clientPort, local.hex, ends.localPort);
}

type HexAddress = { family: 'ipv4' | 'ipv6' | undefined; hex: string };
/** Both ends of nearly every client are the same few addresses (127.0.0.1 and the listener's). */
const hexAddresses = new Map<string, HexAddress>();

/** An address as the netlink helper reads it (IPv4 for a v4-mapped one), kept per address. */
export function addressHex(address: string): HexAddress {
  let known = hexAddresses.get(address);
  if (known) return known;
  const plain = unmapIPv4(address);
  const family = net.isIPv4(plain) ? 'ipv4' : net.isIPv6(plain) ? 'ipv6' : undefined;
  known = { family, hex: family === 'ipv4' ? ipv4Bytes(plain).toString('hex') : family ? ipv6Bytes(plain).toString('hex') : '' };
  if (hexAddresses.size >= 256) hexAddresses.clear(); // remote clients (allowRemote): many addresses
  hexAddresses.set(address, known);
  return known;
}

export function ownerOfRow(row: ProcTcpRow | undefined): SocketOwner {
  if (!row) return { type: 'unknown', reason: 'no local socket is the client end (a peer on another machine or in another network namespace)' };
  // A closed socket lingering in TIME_WAIT/FIN_WAIT2 shows uid 0 and inode 0: its owner is gone.
  if (row.inode === '0') return { type: 'unknown', reason: 'the client closed its socket before its owner could be checked' };
  return { type: 'user', uid: row.uid };
}

/** The client's row in /proc/net/tcp{,6}, or undefined. */
export async function findClientRow(ends: TcpEnds, scan: (file: string, key: string) => Promise<ProcTcpRow | undefined> = scanProcTable): Promise<ProcTcpRow | undefined> {
  for (const { file, key } of candidates(ends)) {
    const row = await scan(file, key);
    if (row) return row;
  }
  return undefined;
}

/** Bytes per read: the kernel formats only what fits, so a read that finds the row ends the walk early. */
const CHUNK = 64 * 1024;

/**
 * Reads the table a chunk at a time and stops at the row: producing the table walks the
 * kernel's whole connection hash (every bucket, every socket, TIME_WAIT included), so
 * stopping early saves half of that on average. seq_file never splits a row across
 * reads; a partial line is carried over anyway.
 */
async function scanProcTable(file: string, key: string): Promise<ProcTcpRow | undefined> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const buffer = Buffer.allocUnsafe(CHUNK);
    let carry = '';
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK, null);
      if (bytesRead === 0) return undefined;
      const chunk = buffer.toString('latin1', 0, bytesRead);
      const text = carry + chunk;
      const row = findRow(text, key);
      if (row) return row;
      carry = text.slice(text.lastIndexOf('\n') + 1);
    }
  } finally {
    await handle.close();
  }
}

/**
 * Where the client's row can be: an IPv4 client is in tcp, except one that used an
 * IPv6 socket to reach a v4-mapped address (tcp6, mapped on both ends).
 */
function candidates(ends: TcpEnds): { file: string; key: string }[] {
  const client = unmapIPv4(ends.clientAddress);
  const local = unmapIPv4(ends.localAddress);
  const key = (a: Buffer, b: Buffer) => `${procHex(a)}:${hexPort(ends.clientPort)} ${procHex(b)}:${hexPort(ends.localPort)} `;
  if (net.isIPv4(client) && net.isIPv4(local)) {
    return [
      { file: '/proc/net/tcp', key: key(ipv4Bytes(client), ipv4Bytes(local)) },
      { file: '/proc/net/tcp6', key: key(ipv6Bytes(`::ffff:${client}`), ipv6Bytes(`::ffff:${local}`)) },
    ];
  }
  if (net.isIPv6(client) && net.isIPv6(local)) return [{ file: '/proc/net/tcp6', key: key(ipv6Bytes(client), ipv6Bytes(local)) }];
  return [];
}

/** The row that starts with `key` (local and remote end): its uid and inode columns. */
export function findRow(table: string, key: string): ProcTcpRow | undefined {
  const at = table.indexOf(key);
  if (at < 0) return undefined;
  const end = table.indexOf('\n', at);
  // After the two ends: st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
  const f = table.slice(at + key.length, end < 0 ? undefined : end).trim().split(/\s+/);
  if (f.length < 7) return undefined;
  return { uid: Number(f[4]), inode: f[6]! };
}

function hexPort(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, '0');
}

/** `::ffff:127.0.0.1` (an IPv4 client on a dual-stack listener) is an IPv4 address. */
export function unmapIPv4(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

/** /proc/net/tcp prints addresses as 32-bit words in host byte order, in upper-case hex. */
export function procHex(bytes: Buffer): string {
  const copy = Buffer.from(bytes);
  if (os.endianness() === 'LE') for (let i = 0; i < copy.length; i += 4) copy.subarray(i, i + 4).reverse();
  return copy.toString('hex').toUpperCase();
}

function ipv4Bytes(address: string): Buffer {
  return Buffer.from(address.split('.').map(Number));
}

/** 16 bytes of an IPv6 address (`::` shorthand and a dotted IPv4 tail allowed, a %zone dropped). */
export function ipv6Bytes(address: string): Buffer {
  let text = address.replace(/%.*$/, '');
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = ipv4Bytes(v4[1]!);
    text = `${text.slice(0, v4.index)}${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16) || 0, i * 2));
  return out;
}
