// Linux fast path for the socket owner: an exact sock_diag lookup over netlink (what
// `ss` uses), which finds one socket by its 4-tuple in the kernel's hash table instead of
// walking the whole table as /proc/net/tcp does. Node.js has no netlink sockets, so a
// small Python helper (python3 is on nearly every Linux desktop; the broker falls back
// to /proc/net/tcp without it) stays running next to the broker and answers one lookup
// per line: `ID FAMILY SRC SPORT DST DPORT` (addresses as 32 hex digits) in, `ID UID
// INODE` or `ID none` out. The answer is the kernel's inet_diag_msg: uid and inode of
// the socket; TIME_WAIT entries have inode 0, as in /proc.
//
// Where the broker's native module is built (Linux, broker/native/sock-diag.c), the same
// request is made in-process instead: no helper, no pipe round trip per connection.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Socket } from 'node:net';
import { loadAddon } from '../net/native-addon.js';
import type { ProcTcpRow } from './socket-owner.js';

interface SockDiag {
  /** [uid, inode], null when there is no such socket, undefined when netlink failed. */
  find(family: number, local: Buffer, localPort: number, remote: Buffer, remotePort: number): [number, number] | null | undefined;
}

// NETLINK_SOCK_DIAG = 4, SOCK_DIAG_BY_FAMILY = 20, NLM_F_REQUEST = 1, NLMSG_ERROR = 2,
// INET_DIAG_NOCOOKIE = ~0. inet_diag_req_v2: family, protocol (6, TCP), ext, pad,
// states, then inet_diag_sockid (sport, dport big-endian, src[16], dst[16], if, cookie[2]).
// inet_diag_msg after the 16-byte nlmsghdr: uid at 80, inode at 84.
const HELPER = String.raw`
import socket, struct, sys
s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 4)
s.bind((0, 0))
sys.stdout.write('ready\n')
sys.stdout.flush()
seq = 0
for line in sys.stdin:
    try:
        rid, fam, src, sport, dst, dport = line.split()
    except ValueError:
        continue
    seq += 1
    sid = struct.pack('>HH', int(sport), int(dport)) + bytes.fromhex(src) + bytes.fromhex(dst) + struct.pack('=III', 0, 0xffffffff, 0xffffffff)
    req = struct.pack('=BBBBI', int(fam), 6, 0, 0, 0xffffffff) + sid
    s.send(struct.pack('=IHHII', 16 + len(req), 20, 1, seq, 0) + req)
    out = 'none'
    done = False
    while not done:
        data = s.recv(65536)
        off = 0
        while off + 16 <= len(data):
            ln, typ, flags, mseq, pid = struct.unpack_from('=IHHII', data, off)
            if ln < 16:
                break
            if mseq == seq:
                if typ == 20 and ln >= 88:
                    uid, inode = struct.unpack_from('=II', data, off + 80)
                    out = '%d %d' % (uid, inode)
                    done = True
                elif typ == 2 or typ == 3:
                    done = True
            off += (ln + 3) & ~3
    sys.stdout.write('%s %s\n' % (rid, out))
    sys.stdout.flush()
`;

/** An address as the helper reads it: 32 hex digits (an IPv4 address padded with zeros). */
const hex16 = (b: Buffer | string): string => (typeof b === 'string' ? b : b.toString('hex')).padEnd(32, '0');

const AF_INET = 2;
const AF_INET6 = 10;

export interface NetlinkLookup {
  /**
   * The row, undefined when there is no such socket, or 'unavailable' (no python3, no
   * netlink, or the helper is still starting): use /proc. Never waits for the helper to start.
   * Addresses are their bytes or those in hex (socket-owner-linux.ts passes hex it keeps).
   */
  find(family: 'ipv4' | 'ipv6', local: Buffer | string, localPort: number, remote: Buffer | string, remotePort: number): Promise<ProcTcpRow | undefined | 'unavailable'>;
  /** Starts the helper; resolves true once it answers lookups, false if it cannot. */
  ready(): Promise<boolean>;
  /** Lookups are made in-process by the native module, without the helper. */
  readonly inProcess: boolean;
  close(): void;
}

/** How long one answer may take before that lookup falls back to /proc. */
const ANSWER_MS = 2_000;

/** The 16 address bytes sock_diag takes. */
const bytes16 = (b: Buffer | string): Buffer => Buffer.from(hex16(b), 'hex');

/** `native: false` leaves the in-process lookup out (tests of the helper). */
export function createNetlinkLookup(command = 'python3', options: { native?: boolean } = {}): NetlinkLookup {
  const native = options.native === false ? null : loadAddon<SockDiag>('sock-diag').module;
  let helper: ChildProcessWithoutNullStreams | undefined;
  let started: Promise<boolean> | undefined;
  let ready = false;
  let failures = 0;
  let nextId = 0;
  // In the order asked, so by deadline: one timer for all of them (a timer per lookup was
  // a setTimeout and a clearTimeout per connection for an answer that takes 0.1 ms). It
  // keeps the process alive only while an answer is awaited, as the helper itself does not.
  const pending = new Map<number, { settle: (row: ProcTcpRow | undefined | 'unavailable') => void; due: number }>();
  let sweep: NodeJS.Timeout | undefined;
  const expire = () => {
    sweep = undefined;
    const now = performance.now();
    for (const [id, p] of pending) {
      if (p.due > now) {
        armSweep(p.due - now);
        return;
      }
      pending.delete(id);
      p.settle('unavailable');
    }
  };
  const armSweep = (ms: number) => {
    sweep = setTimeout(expire, ms);
  };

  const fail = () => {
    helper = undefined;
    started = undefined;
    ready = false;
    failures++;
    for (const p of pending.values()) p.settle('unavailable');
    pending.clear();
    sweep?.unref();
  };

  function start(): Promise<boolean> {
    if (started) return started;
    // A helper that keeps dying (no python3, netlink refused) is not restarted forever.
    if (failures >= 3) return Promise.resolve(false);
    const child = spawn(command, ['-c', HELPER], { stdio: ['pipe', 'pipe', 'pipe'] });
    let announce: (ok: boolean) => void = () => {};
    started = new Promise<boolean>((resolve) => (announce = resolve));
    child.on('error', () => {
      fail();
      announce(false);
    });
    child.on('exit', () => {
      if (helper === child) fail();
      announce(false);
    });
    child.stdin.on('error', () => {});
    child.stderr.resume();
    let buffered = '';
    child.stdout.setEncoding('latin1');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const [id, uid, inode] = buffered.slice(0, nl).split(' ');
        buffered = buffered.slice(nl + 1);
        if (id === 'ready') {
          ready = true;
          announce(true);
          continue;
        }
        const p = pending.get(Number(id));
        pending.delete(Number(id));
        if (pending.size === 0) sweep?.unref();
        p?.settle(uid === 'none' || uid === undefined ? undefined : { uid: Number(uid), inode: inode ?? '0' });
      }
    });
    // The helper must not keep the broker alive: it exits when its stdin closes.
    for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as Socket).unref?.();
    child.unref();
    helper = child;
    return started;
  }

  return {
    find(family, local, localPort, remote, remotePort) {
      if (native) {
        const row = native.find(family === 'ipv4' ? AF_INET : AF_INET6, bytes16(local), localPort, bytes16(remote), remotePort);
        if (row !== undefined) return Promise.resolve(row === null ? undefined : { uid: row[0], inode: String(row[1]) });
        // netlink failed in-process: the helper may still answer
      }
      void start();
      const child = helper;
      if (!ready || !child) return Promise.resolve('unavailable');
      const id = nextId++;
      return new Promise((settle) => {
        pending.set(id, { settle, due: performance.now() + ANSWER_MS });
        if (!sweep) armSweep(ANSWER_MS);
        else if (pending.size === 1) sweep.ref();
        child.stdin.write(`${id} ${family === 'ipv4' ? AF_INET : AF_INET6} ${hex16(local)} ${localPort} ${hex16(remote)} ${remotePort}\n`);
      });
    },
    ready: () => (native ? Promise.resolve(true) : start()),
    /** Whether lookups are made in-process (the native module) rather than by the helper. */
    inProcess: native !== null,
    close() {
      helper?.kill();
      helper = undefined;
    },
  };
}
