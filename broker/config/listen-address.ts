// listenOn addresses: `tcp://HOST:PORT` and `unix:///absolute/path`, as in Secretless v2.
// Hosts are limited to IP literals and `localhost` so that "is this loopback?" has one
// answer that does not depend on DNS.

import { BlockList, isIP, isIPv4, isIPv6 } from 'node:net';
import { posix } from 'node:path';
import type { ListenAddress } from './types.js';

const EXPECTED = 'expected tcp://HOST:PORT (HOST: an IPv4 address, [IPv6] or localhost) or unix:///absolute/path';

/** Parse a listenOn value. Throws an Error whose message says what is expected. */
export function parseListenAddress(text: string): ListenAddress {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(text);
  if (!scheme) throw new Error(`'${text}' has no scheme: ${EXPECTED}${suggestion(text)}`);
  const rest = text.slice(scheme[0].length);
  switch (scheme[1]!.toLowerCase()) {
    case 'tcp':
      return parseTcp(rest);
    case 'unix':
      return parseUnix(rest);
    default:
      throw new Error(`unsupported scheme '${scheme[1]}://': ${EXPECTED}`);
  }
}

/** A hint for the Secretless v1 / Go style `HOST:PORT` and `:PORT` forms. */
function suggestion(text: string): string {
  if (/^\d+$/.test(text)) return `; did you mean tcp://127.0.0.1:${text}?`;
  const m = /^(.*):(\d+)$/.exec(text);
  if (!m) return text.startsWith('/') ? `; did you mean unix://${text}?` : '';
  const host = m[1] === '' ? '127.0.0.1' : m[1];
  return `; did you mean tcp://${host}:${m[2]}?`;
}

function parseTcp(rest: string): ListenAddress {
  const m = /^(\[[^\]]*\]|[^:/[\]]*):([^:]*)$/.exec(rest);
  if (!m) throw new Error(`'tcp://${rest}' is not of the form tcp://HOST:PORT (IPv6 hosts go in brackets: tcp://[::1]:5432)`);
  return { type: 'tcp', host: parseHost(m[1]!), port: parsePort(m[2]!) };
}

function parseHost(raw: string): string {
  if (raw === '') {
    throw new Error('the host is empty: write tcp://127.0.0.1:PORT for this machine only, or tcp://0.0.0.0:PORT for all interfaces');
  }
  if (raw.startsWith('[')) {
    const inner = raw.slice(1, -1);
    if (!isIPv6(inner)) throw new Error(`'${inner}' is not an IPv6 address`);
    return inner.toLowerCase();
  }
  if (raw.toLowerCase() === 'localhost') return 'localhost';
  if (isIPv6(raw)) throw new Error(`IPv6 addresses must be in brackets: tcp://[${raw}]:PORT`);
  // node's isIPv4 rejects leading zeros, which other tools read as octal.
  if (isIPv4(raw)) return raw;
  if (/^[\d.]+$/.test(raw)) throw new Error(`'${raw}' is not a valid IPv4 address`);
  throw new Error(
    `host '${raw}' is not allowed: use an IP address or localhost (host names would make the listener depend on DNS)`,
  );
}

function parsePort(raw: string): number {
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) {
    throw new Error(`port '${raw}' is not a number from 1 to 65535 (0 picks a free port)`);
  }
  return Number(raw);
}

function parseUnix(rest: string): ListenAddress {
  if (!rest.startsWith('/')) {
    throw new Error(`the socket path '${rest}' is not absolute: write unix:///absolute/path (three slashes)`);
  }
  if (rest.includes('\0')) throw new Error('the socket path contains a NUL byte');
  if (rest.endsWith('/')) throw new Error(`the socket path '${rest}' names a directory, not a socket file`);
  const path = posix.normalize(rest);
  // sun_path holds 108 bytes on Linux, 104 on macOS/BSD, both including the final NUL.
  const max = process.platform === 'linux' ? 107 : 103;
  const bytes = Buffer.byteLength(path);
  if (bytes > max) throw new Error(`the socket path is ${bytes} bytes long; the limit on this system is ${max}`);
  return { type: 'unix', path };
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** True for IP literals in 127.0.0.0/8 and ::1 (also as ::ffff:127.x.y.z); names are not resolved. */
export function isLoopbackAddress(host: string): boolean {
  const family = isIP(host);
  if (family === 0) return false;
  return loopback.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/** Loopback as written in config: a loopback IP literal (brackets and zone allowed) or localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  return h === 'localhost' || isLoopbackAddress(h);
}

/** The 8 16-bit groups of an IPv6 address (zone id dropped), or undefined if not IPv6. */
export function ipv6Groups(text: string): number[] | undefined {
  const addr = text.replace(/%.*$/, '');
  if (!isIPv6(addr)) return undefined;
  let tail = addr;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(addr);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    tail = addr.slice(0, v4.index) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const [head, rest] = tail.includes('::') ? tail.split('::') : [tail, undefined];
  const parse = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(rest);
  const fill = rest === undefined ? [] : new Array<number>(8 - left.length - right.length).fill(0);
  return [...left, ...fill, ...right];
}

export function formatListenAddress(a: ListenAddress): string {
  if (a.type === 'unix') return `unix://${a.path}`;
  return a.host.includes(':') ? `tcp://[${a.host}]:${a.port}` : `tcp://${a.host}:${a.port}`;
}

/** Whether two listeners would compete for the same socket (port 0 never does). */
export function listenAddressesClash(a: ListenAddress, b: ListenAddress): boolean {
  if (a.type === 'unix' || b.type === 'unix') {
    return a.type === 'unix' && b.type === 'unix' && a.path === b.path;
  }
  if (a.port === 0 || a.port !== b.port) return false;
  const ha = canonicalHost(a.host);
  const hb = canonicalHost(b.host);
  if (ha === hb || isWildcard(ha) || isWildcard(hb)) return true;
  // localhost may resolve to 127.0.0.1 or ::1, so it competes with any loopback address.
  return (ha === 'localhost' && isLoopbackHost(hb)) || (hb === 'localhost' && isLoopbackHost(ha));
}

/** Finds the earliest added listener an address clashes with (listenAddressesClash), in constant time per call. */
export interface ClashIndex<T> {
  add(address: ListenAddress, item: T): void;
  first(address: ListenAddress): T | undefined;
}

interface PortSlot<T> {
  hosts: Map<string, Ranked<T>>;
  any?: Ranked<T>;
  wildcard?: Ranked<T>;
  localhost?: Ranked<T>;
  loopback?: Ranked<T>;
}
type Ranked<T> = { rank: number; item: T };

/** Comparing every listener with every earlier one made validating 20,000 services take seconds. */
export function createClashIndex<T>(): ClashIndex<T> {
  const unix = new Map<string, Ranked<T>>();
  const ports = new Map<number, PortSlot<T>>();
  let rank = 0;
  return {
    add(address, item) {
      const entry = { rank: rank++, item };
      if (address.type === 'unix') {
        if (!unix.has(address.path)) unix.set(address.path, entry);
        return;
      }
      if (address.port === 0) return;
      let slot = ports.get(address.port);
      if (!slot) ports.set(address.port, (slot = { hosts: new Map() }));
      const host = canonicalHost(address.host);
      if (!slot.hosts.has(host)) slot.hosts.set(host, entry);
      slot.any ??= entry;
      if (isWildcard(host)) slot.wildcard ??= entry;
      if (host === 'localhost') slot.localhost ??= entry;
      if (isLoopbackHost(address.host)) slot.loopback ??= entry;
    },
    first(address) {
      if (address.type === 'unix') return unix.get(address.path)?.item;
      const slot = address.port === 0 ? undefined : ports.get(address.port);
      if (!slot) return undefined;
      const host = canonicalHost(address.host);
      const candidates = [slot.hosts.get(host), slot.wildcard];
      if (isWildcard(host)) candidates.push(slot.any);
      if (host === 'localhost') candidates.push(slot.loopback);
      if (isLoopbackHost(address.host)) candidates.push(slot.localhost);
      let best: Ranked<T> | undefined;
      for (const c of candidates) if (c && (!best || c.rank < best.rank)) best = c;
      return best?.item;
    },
  };
}

function canonicalHost(host: string): string {
  const groups = ipv6Groups(host);
  return groups ? groups.map((g) => g.toString(16)).join(':') : host.toLowerCase();
}

function isWildcard(canonical: string): boolean {
  return canonical === '0.0.0.0' || canonical === '0:0:0:0:0:0:0:0';
}
