// What the MySQL and Redis benchmarks share: the paths (direct, the broker as its own
// process, haproxy in tcp mode, and for MySQL a bare Node proxy: node-floor.ts), child
// processes, CPU time from /proc, interleaved rounds and number formatting.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { freePort } from '../fixtures/free-port.js';

export type PathName = 'direct' | 'broker' | 'haproxy' | 'node';

export interface Endpoint {
  name: PathName;
  port: number;
  pid?: number;
  /** The client must send the real password (no broker in the path). */
  password: boolean;
}

export interface Sample {
  value: number;
  /** Proxy CPU seconds per unit of work. */
  cpuPerUnit?: number;
  /** The user-space part of it (the rest is the kernel's, on the proxy's behalf). */
  userPerUnit?: number;
  /** Round-trip latency percentiles of the run, µs (one client). */
  p50us?: number;
  p99us?: number;
}

/** Processes the bench started; killed at the end. */
export const children = new Set<ChildProcess>();

/** User + system CPU seconds of a process so far. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuSplit(pid);
  return user + system;
}

/** User and system CPU seconds of a process so far. */
export function cpuSplit(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 }; // utime, stime: clock ticks of 1/100 s
}

export function run(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

export async function waitForPort(port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** haproxy in tcp mode in front of 127.0.0.1:target. */
export async function startHaproxy(dir: string, target: number): Promise<Endpoint> {
  const port = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, [
    'global', '  maxconn 4000', '',
    'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 1h', '  timeout server 1h', '',
    'frontend fe', `  bind 127.0.0.1:${port}`, '  default_backend be',
    'backend be', `  server s1 127.0.0.1:${target}`, '',
  ].join('\n'));
  const child = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', openSync(join(dir, 'haproxy.log'), 'a'), openSync(join(dir, 'haproxy.log'), 'a')] });
  children.add(child);
  await waitForPort(port);
  return { name: 'haproxy', port, pid: child.pid!, password: true };
}

/** The bare Node proxy (node-floor.ts) in front of 127.0.0.1:target, with the broker's pump setting. */
export async function startNodeFloor(root: string, dir: string, target: number): Promise<Endpoint> {
  const port = await freePort();
  const log = openSync(join(dir, 'node-floor.log'), 'a');
  const child = spawn(process.execPath, [join(root, 'dist', 'test', 'bench', 'node-floor.js'), String(port), String(target)], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...pumpSetting() },
    stdio: ['ignore', log, log],
  });
  children.add(child);
  await waitForPort(port);
  return { name: 'node', port, pid: child.pid!, password: true };
}

/**
 * SECRETLESS_NATIVE=0 in the bench's environment runs the broker with its JS pipe, and
 * SECRETLESS_PUMP_THREADS=N its pump with N threads, for comparison.
 */
export function pumpSetting(): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const name of ['SECRETLESS_NATIVE', 'SECRETLESS_PUMP_THREADS']) if (process.env[name]) out[name] = process.env[name];
  return out;
}

/** `secretless-desktop serve -f cfg` as its own process, logging to dir/broker.log. */
export async function startBrokerProcess(root: string, dir: string, cfg: string, port: number, env: NodeJS.ProcessEnv): Promise<Endpoint> {
  const child = spawn(join(root, 'bin', 'secretless-desktop.js'), ['serve', '-f', cfg, '--audit-log', join(dir, 'audit.jsonl'), '--log-level', 'warn'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...pumpSetting(), ...env },
    stdio: ['ignore', openSync(join(dir, 'broker.log'), 'a'), openSync(join(dir, 'broker.log'), 'a')],
  });
  children.add(child);
  await waitForPort(port);
  return { name: 'broker', port, pid: child.pid!, password: false };
}

export interface Figure {
  name: string;
  measure: (ep: Endpoint) => Promise<Sample>;
  /** Only these paths (default: every endpoint). */
  paths?: PathName[];
}

/** Every figure on every path, `rounds` times, the path order rotated per round so no path always runs on a warmer server. */
export async function interleavedRounds(figures: Figure[], endpoints: Endpoint[], rounds: number): Promise<Map<string, Map<PathName, Sample[]>>> {
  const results = new Map<string, Map<PathName, Sample[]>>();
  for (let r = 0; r < rounds; r++) {
    for (const fig of figures) {
      const slot = results.get(fig.name) ?? new Map<PathName, Sample[]>();
      results.set(fig.name, slot);
      const eps = fig.paths ? endpoints.filter((e) => fig.paths!.includes(e.name)) : endpoints;
      const order = eps.map((_, i) => eps[(i + r) % eps.length]!);
      for (const ep of order) {
        const s = await fig.measure(ep);
        slot.set(ep.name, [...(slot.get(ep.name) ?? []), s]);
      }
    }
  }
  return results;
}

export const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

export function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US').replace(/,/g, ' ') : n.toFixed(1);
}

/** --quick, --rounds N and the named sections on the command line. */
export function benchArgs(sectionNames: string[], defaultRounds = 3): { quick: boolean; rounds: number; want: (s: string) => boolean } {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const roundsIdx = argv.indexOf('--rounds');
  const rounds = roundsIdx >= 0 ? Number(argv[roundsIdx + 1]) : quick ? 1 : defaultRounds;
  const sections = argv.filter((a) => sectionNames.includes(a));
  return { quick, rounds, want: (s) => sections.length === 0 || sections.includes(s) };
}

/** p50 and p99 of round-trip times in µs. */
export function percentiles(us: number[]): { p50us: number; p99us: number } {
  const s = [...us].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { p50us: at(0.5), p99us: at(0.99) };
}

/**
 * A table row: the latency each proxy adds per round trip (its p50 / p99 minus direct's,
 * medians of rounds), and the broker's added p50 over haproxy's (lower is better).
 */
export function addedLatencyRow(label: string, slot: Map<PathName, Sample[]>, ratioColumn = true): string {
  const med = (p: PathName, k: 'p50us' | 'p99us') => median(slot.get(p)!.map((s) => s[k]!));
  const [d50, d99] = [med('direct', 'p50us'), med('direct', 'p99us')];
  const signed = (n: number) => (n < 0 ? `-${fmt(-n)}` : `+${fmt(n)}`);
  const added = (p: PathName) => `${signed(med(p, 'p50us') - d50)} / ${signed(med(p, 'p99us') - d99)} µs`;
  const [b, h] = [med('broker', 'p50us') - d50, med('haproxy', 'p50us') - d50];
  const ratio = h > 0 ? `${(b / h).toFixed(2)}x haproxy's added p50` : '-';
  return `| ${label}: added latency p50 / p99 | (${fmt(d50)} / ${fmt(d99)} µs) | ${added('broker')}${ratioColumn ? '' : ` (${ratio})`} | ${added('haproxy')} |${ratioColumn ? ` ${ratio} |` : ''}`;
}
