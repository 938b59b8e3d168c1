// Windows: Node has no FFI for GetExtendedTcpTable, so the lookup runs PowerShell:
// Get-NetTCPConnection (which calls it) gives the owning pid of the client's socket, and
// the process's GetOwnerSid its user. A user is a SID here, not a number. A broker that
// is not elevated may be denied the owner of another user's process: that client is then
// unknown, and refused. Verified only by unit tests with recorded output: the test
// machines run Linux. PowerShell starts slowly (a few hundred ms per connection).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { SocketOwner, TcpEnds } from './socket-owner.js';
import { unmapIPv4 } from './socket-owner-linux.js';

const run = promisify(execFile);

export async function windowsSocketOwner(ends: TcpEnds, signal?: AbortSignal): Promise<SocketOwner> {
  const { stdout } = await run('powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', ownerScript(ends)], { signal, timeout: 10_000, windowsHide: true });
  return parseOwnerOutput(stdout);
}

/** Only digits, dots, colons and hex go into the script: the addresses come from the kernel, the ports are numbers. */
export function ownerScript(ends: TcpEnds): string {
  const addr = (a: string) => {
    const plain = unmapIPv4(a).replace(/%.*$/, '');
    if (!/^[0-9a-fA-F.:]+$/.test(plain)) throw new Error(`unexpected address ${JSON.stringify(a)}`);
    return plain;
  };
  return [
    `$c = Get-NetTCPConnection -LocalAddress '${addr(ends.clientAddress)}' -LocalPort ${Number(ends.clientPort)} -RemoteAddress '${addr(ends.localAddress)}' -RemotePort ${Number(ends.localPort)} -ErrorAction SilentlyContinue | Select-Object -First 1`,
    `if (-not $c) { 'none'; exit }`,
    `$p = Get-CimInstance Win32_Process -Filter "ProcessId=$($c.OwningProcess)"`,
    `if (-not $p) { "gone $($c.OwningProcess)"; exit }`,
    `$s = Invoke-CimMethod -InputObject $p -MethodName GetOwnerSid`,
    `$o = Invoke-CimMethod -InputObject $p -MethodName GetOwner`,
    `"owner $($c.OwningProcess) $($s.ReturnValue) $($s.Sid) $($o.Domain)\\$($o.User)"`,
  ].join('; ');
}

/** `owner PID 0 SID DOMAIN\user` (ReturnValue 0 is success), `none` or `gone PID`. */
export function parseOwnerOutput(stdout: string): SocketOwner {
  const line = stdout.trim().split(/\r?\n/).pop() ?? '';
  const owner = /^owner (\d+) (\d+) (S-[\d-]+) (.+)$/.exec(line);
  if (owner && owner[2] === '0') return { type: 'user', uid: owner[3]!, name: owner[4]!.replace(/^\\/, '') };
  if (owner || /^owner (\d+) (\d+)/.test(line)) return { type: 'unknown', reason: `the owner of the client process (pid ${/^owner (\d+)/.exec(line)![1]}) could not be read (another user's process: the broker is not elevated)` };
  if (/^gone \d+/.test(line)) return { type: 'unknown', reason: 'the client process exited before its owner could be checked' };
  return { type: 'unknown', reason: 'no local socket is the client end (a peer on another machine)' };
}
