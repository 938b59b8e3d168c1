// macOS: Node has no FFI for libproc, so the lookup spawns two system tools.
// `netstat -anv -p tcp` lists every TCP socket of the machine with the pid of the
// process that owns it (from the kernel's socket table, like libproc's
// PROC_PIDFDSOCKETINFO but without a per-process fd scan, and readable for other users'
// sockets too); `ps -o uid= -p PID` gives that process's uid. Verified only by unit tests
// with recorded output: the test machines run Linux.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { SocketOwner, TcpEnds } from './socket-owner.js';
import { unmapIPv4 } from './socket-owner-linux.js';

const run = promisify(execFile);

export async function macosSocketOwner(ends: TcpEnds, signal?: AbortSignal): Promise<SocketOwner> {
  const { stdout } = await run('netstat', ['-anv', '-p', 'tcp'], { signal, timeout: 5_000, maxBuffer: 32 << 20 });
  const pid = clientPidFromNetstat(stdout, ends);
  if (pid === undefined) return { type: 'unknown', reason: 'no local socket is the client end (a peer on another machine)' };
  const ps = await run('ps', ['-o', 'uid=', '-p', String(pid)], { signal, timeout: 5_000 }).catch(() => ({ stdout: '' }));
  const uid = Number(ps.stdout.trim());
  if (ps.stdout.trim() === '' || !Number.isInteger(uid)) return { type: 'unknown', reason: `the client process (pid ${pid}) exited before its owner could be checked` };
  return { type: 'user', uid };
}

/**
 * The pid on the row whose local end is the client's and whose foreign end is ours.
 * netstat prints an address and port as `127.0.0.1.5432` / `::1.5432` (IPv4-mapped
 * clients as plain IPv4); the pid column is `pid` (`process:pid` since macOS 14), found by
 * its header, since the columns before it changed between releases.
 */
export function clientPidFromNetstat(text: string, ends: TcpEnds): number | undefined {
  const lines = text.split('\n');
  const header = lines.findIndex((l) => /^Proto\s/.test(l));
  if (header < 0) return undefined;
  // "Local Address" and "Foreign Address" are two words each in the header, one field in a row.
  const columns = lines[header]!.replace(/Local Address/, 'Local').replace(/Foreign Address/, 'Foreign').trim().split(/\s+/);
  const pidColumn = columns.findIndex((c) => c === 'pid' || c === 'process:pid');
  if (pidColumn < 0) return undefined;
  const local = `${unmapIPv4(ends.clientAddress)}.${ends.clientPort}`;
  const foreign = `${unmapIPv4(ends.localAddress)}.${ends.localPort}`;
  for (const line of lines.slice(header + 1)) {
    const f = line.trim().split(/\s+/);
    if (!f[0]?.startsWith('tcp') || f[3] !== local || f[4] !== foreign) continue;
    const pid = /(?:^|:)(\d+)$/.exec(f[pidColumn] ?? '')?.[1];
    return pid === undefined ? undefined : Number(pid);
  }
  return undefined;
}
