// Who is on the other end of an accepted connection: best effort, for the audit log.
//
// TCP (Linux): the client's own socket is a row in /proc/net/tcp{,6} whose local end is
// the client's ephemeral port and whose remote end is our listening port (found by
// access/socket-owner-linux.ts); that row gives the owner's uid and the socket inode, and the pid is the process holding an fd that
// reads `socket:[inode]`. Only clients in our network namespace are found, which is
// exactly the set of local processes; remote clients yield {}.
//
// Unix sockets: Node does not expose SO_PEERCRED and /proc/net/unix does not list the
// peer of a connected socket; `ss -xp` (iproute2, netlink sock_diag) does: our socket's
// row names the peer's inode, and the peer's row names the process holding it. That
// costs a process spawn, which is why peer lookup is opt-in.

import { execFile } from 'node:child_process';
import type net from 'node:net';
import { promisify } from 'node:util';
import { findClientRow } from '../access/socket-owner-linux.js';
import { tcpEnds, type TcpEnds } from '../access/socket-owner.js';
import { readdir, readlink, stat } from 'node:fs/promises';

export interface PeerInfo {
  pid?: number;
  uid?: number;
}

export interface LookupPeerOptions {
  /**
   * Give up after this long and return what is known (default 250 ms for TCP, which
   * reads /proc; 2 s for Unix sockets, whose lookup spawns `ss`, slow on a busy machine).
   */
  timeoutMs?: number;
}

/** Never throws; resolves within about `timeoutMs`. */
export async function lookupPeer(socket: net.Socket, options: LookupPeerOptions = {}): Promise<PeerInfo> {
  if (process.platform !== 'linux') return {};
  const unix = !socket.remotePort;
  const ends = tcpEnds(socket);
  if (!unix && !ends) return {};

  const deadline = Date.now() + (options.timeoutMs ?? (unix ? 2_000 : 250));
  const result: PeerInfo = {};
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
    timer.unref();
  });
  const work = (unix ? findUnixPeer(socket, deadline, result) : findTcpPeer(ends!, deadline, result)).catch(() => {});
  await Promise.race([work, timeout]);
  clearTimeout(timer);
  // A copy, so a scan still winding down after the timeout cannot change what we returned.
  return { ...result };
}

const execFileAsync = promisify(execFile);

interface UnixRow {
  inode: string;
  peerInode: string;
  pid?: number;
}

/** Rows of `ss -xpnH`: netid state recv-q send-q local inode peer peer-inode [users:((...,pid=N,...))]. */
export function parseSsUnix(text: string): UnixRow[] {
  const rows: UnixRow[] = [];
  for (const line of text.split('\n')) {
    const m = /^\S+\s+\S+\s+\d+\s+\d+\s+\S+\s+(\d+)\s+\S+\s+(\d+)(.*)$/.exec(line.trim());
    if (!m) continue;
    const pid = /pid=(\d+)/.exec(m[3]!)?.[1];
    rows.push({ inode: m[1]!, peerInode: m[2]!, pid: pid ? Number(pid) : undefined });
  }
  return rows;
}

async function findUnixPeer(socket: net.Socket, deadline: number, result: PeerInfo): Promise<void> {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return;
  const ours = /^socket:\[(\d+)\]$/.exec(await readlink(`/proc/self/fd/${fd}`))?.[1];
  if (!ours) return;
  const { stdout } = await execFileAsync('ss', ['-xpnH'], { timeout: Math.max(1, deadline - Date.now()), maxBuffer: 16 << 20 });
  const rows = parseSsUnix(stdout);
  const peerInode = rows.find((r) => r.inode === ours)?.peerInode;
  const pid = peerInode ? rows.find((r) => r.inode === peerInode)?.pid : undefined;
  if (pid === undefined) return;
  result.pid = pid;
  result.uid = (await stat(`/proc/${pid}`)).uid;
}

async function findTcpPeer(ends: TcpEnds, deadline: number, result: PeerInfo): Promise<void> {
  const row = await findClientRow(ends);
  if (!row) return;
  result.uid = row.uid;
  if (row.inode === '0') return; // already closed (TIME_WAIT): no fd holds it any more
  const pid = await findSocketOwner(row.inode, row.uid, deadline);
  if (pid !== undefined) result.pid = pid;
}

/** The pid of a process (owned by `uid`) holding the socket inode, scanning /proc. */
async function findSocketOwner(inode: string, uid: number, deadline: number): Promise<number | undefined> {
  const target = `socket:[${inode}]`;
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  // Look at ourselves first (cheap, and the usual case in tests and same-process clients),
  // then the newest processes: a client that just connected was usually just started.
  pids.sort((a, b) => (a === process.pid ? -1 : b === process.pid ? 1 : b - a));
  let found: number | undefined;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (found === undefined && next < pids.length && Date.now() < deadline) {
      const pid = pids[next++];
      if (await processHolds(pid, uid, target, deadline)) found ??= pid;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return found;
}

async function processHolds(pid: number, uid: number, target: string, deadline: number): Promise<boolean> {
  try {
    if ((await stat(`/proc/${pid}`)).uid !== uid) return false;
    const fds = await readdir(`/proc/${pid}/fd`);
    for (const fd of fds) {
      if (Date.now() >= deadline) return false;
      const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (link === target) return true;
    }
  } catch {
    // The process exited, or its fds are not ours to read.
  }
  return false;
}
