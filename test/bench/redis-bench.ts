// Redis benchmark: the broker against direct and haproxy (mode tcp) on a throwaway
// redis-server. Figures, in interleaved rounds (medians printed): redis-benchmark GET and
// SET at -c 1 and -c 50, each without pipelining and with -P 16, in requests per second,
// plus the proxy's CPU per request from /proc, and a microbenchmark of the command
// scanner (the one step in the broker's Redis data phase: it looks at command names to
// find AUTH and HELLO).
// Usage: node dist/test/bench/redis-bench.js [--quick] [--rounds N] [load|scanner ...]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCommandScanner } from '../../broker/connectors/redis/command-scanner.js';
import { encodeCommand } from '../../broker/connectors/redis/resp.js';
import { freePort } from '../fixtures/free-port.js';
import { startRedis, type RedisServer } from '../fixtures/redis-server.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
type PathName = 'direct' | 'broker' | 'haproxy';
const PATHS: PathName[] = ['direct', 'broker', 'haproxy'];

interface Endpoint {
  name: PathName;
  port: number;
  pid?: number;
  /** The client must send the real password (no broker in the path). */
  password: boolean;
}

interface Sample {
  value: number;
  /** Proxy CPU seconds per request. */
  cpuPerUnit?: number;
}

const children = new Set<ChildProcess>();

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
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

async function waitForPort(port: number, timeoutMs = 20_000): Promise<void> {
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

async function startHaproxy(dir: string, target: number): Promise<Endpoint> {
  const port = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, [
    'global', '  maxconn 4000', '',
    'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 1h', '  timeout server 1h', '',
    'frontend rd', `  bind 127.0.0.1:${port}`, '  default_backend rd',
    'backend rd', `  server r1 127.0.0.1:${target}`, '',
  ].join('\n'));
  const child = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', openSync(join(dir, 'haproxy.log'), 'a'), openSync(join(dir, 'haproxy.log'), 'a')] });
  children.add(child);
  await waitForPort(port);
  return { name: 'haproxy', port, pid: child.pid!, password: true };
}

async function startBroker(dir: string, server: RedisServer): Promise<Endpoint> {
  const port = await freePort();
  const cfg = join(dir, 'secretless.yml');
  writeFileSync(cfg, [
    'version: "2"', 'services:', '  rd:', '    connector: redis', `    listenOn: tcp://127.0.0.1:${port}`, '    credentials:',
    '      host: 127.0.0.1', `      port: ${server.port}`, '      password: { from: env, get: SD_BENCH_REDISPASS }', '      sslmode: disable', '',
  ].join('\n'));
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, SD_BENCH_REDISPASS: server.defaultPassword };
  const child = spawn(join(ROOT, 'bin', 'secretless-desktop.js'), ['serve', '-f', cfg, '--audit-log', join(dir, 'audit.jsonl'), '--log-level', 'warn'], {
    env,
    stdio: ['ignore', openSync(join(dir, 'broker.log'), 'a'), openSync(join(dir, 'broker.log'), 'a')],
  });
  children.add(child);
  await waitForPort(port);
  return { name: 'broker', port, pid: child.pid!, password: false };
}

/** redis-benchmark for one test (get or set); requests per second as it reports them. */
async function bench(ep: Endpoint, server: RedisServer, test: 'get' | 'set', clients: number, pipeline: number, requests: number): Promise<Sample> {
  const args = ['-h', '127.0.0.1', '-p', String(ep.port), '-t', test, '-c', String(clients), '-P', String(pipeline), '-n', String(requests), '--csv'];
  // Only direct and haproxy need the password; the broker logs in itself.
  if (ep.password) args.push('-a', server.defaultPassword);
  const cpu0 = ep.pid ? cpuSeconds(ep.pid) : 0;
  const r = await run('redis-benchmark', args);
  if (r.code !== 0) throw new Error(`redis-benchmark via ${ep.name} failed: ${r.stderr}`);
  const row = r.stdout.split('\n').find((l) => l.startsWith(`"${test.toUpperCase()}"`));
  if (!row) throw new Error(`redis-benchmark via ${ep.name}: no ${test} row in ${r.stdout}`);
  const rps = Number(JSON.parse(`[${row}]`)[1]);
  return { value: rps, cpuPerUnit: ep.pid ? (cpuSeconds(ep.pid) - cpu0) / requests : undefined };
}

/** ns per command the scanner spends on redis-benchmark-like SET/GET commands in 64 KiB reads, and per MiB of large values. */
function scannerCost(): { nsPerCommand: number; nsPerMiBLarge: number } {
  const cmds = [encodeCommand(['SET', 'key:000000012345', 'xxx']), encodeCommand(['GET', 'key:000000012345'])];
  const one = Buffer.concat(cmds);
  const chunk = Buffer.concat(Array.from({ length: Math.floor(65536 / one.length) }, () => one));
  const perChunk = (Math.floor(65536 / one.length)) * 2;
  const scanner = createCommandScanner({ rewrite: () => null });
  for (let i = 0; i < 2000; i++) scanner.push(chunk);
  const rounds = 10_000;
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) scanner.push(chunk);
  const nsPerCommand = Number(process.hrtime.bigint() - t0) / (rounds * perChunk);
  // 1 MiB values in 64 KiB reads: skipped by length, so the cost is per read, not per byte.
  const value = Buffer.alloc(1 << 20, 0x61);
  const big = encodeCommand(['SET', 'big', value]);
  const big64 = Array.from({ length: Math.ceil(big.length / 65536) }, (_, k) => big.subarray(k * 65536, (k + 1) * 65536));
  const bigScanner = createCommandScanner({ rewrite: () => null });
  t0 = process.hrtime.bigint();
  for (let i = 0; i < 200; i++) for (const part of big64) bigScanner.push(part);
  const nsPerMiBLarge = Number(process.hrtime.bigint() - t0) / 200;
  return { nsPerCommand, nsPerMiBLarge };
}

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US').replace(/,/g, ' ') : n.toFixed(1);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const roundsIdx = argv.indexOf('--rounds');
  const rounds = roundsIdx >= 0 ? Number(argv[roundsIdx + 1]) : quick ? 1 : 3;
  const sections = argv.filter((a) => ['load', 'scanner'].includes(a));
  const want = (s: string) => sections.length === 0 || sections.includes(s);
  const dir = mkdtempSync(join(tmpdir(), 'sd-rdbench-'));
  const server = await startRedis({ auth: 'requirepass' });
  const cleanup = () => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', cleanup);
  const load0 = loadavg()[0]!;
  try {
    const lines: string[] = [];
    if (want('load')) {
      const endpoints: Endpoint[] = [{ name: 'direct', port: server.port, password: true }, await startBroker(dir, server), await startHaproxy(dir, server.port)];
      const scale = quick ? 1 : 3;
      const figures: { name: string; measure: (ep: Endpoint) => Promise<Sample> }[] = [];
      for (const test of ['get', 'set'] as const)
        for (const [clients, pipeline, n] of [
          [1, 1, 10_000],
          [1, 16, 100_000],
          [50, 1, 50_000],
          [50, 16, 300_000],
        ] as const)
          figures.push({ name: `${test.toUpperCase()} -c ${clients}${pipeline > 1 ? ` -P ${pipeline}` : ''}`, measure: (ep) => bench(ep, server, test, clients, pipeline, n * scale) });
      const results = new Map<string, Map<PathName, Sample[]>>();
      for (let r = 0; r < rounds; r++) {
        for (const fig of figures) {
          const slot = results.get(fig.name) ?? new Map<PathName, Sample[]>();
          results.set(fig.name, slot);
          // Rotate the order per round so no path always runs on a warmer server.
          const order = PATHS.map((_, i) => PATHS[(i + r) % PATHS.length]!);
          for (const name of order) {
            const s = await fig.measure(endpoints.find((e) => e.name === name)!);
            slot.set(name, [...(slot.get(name) ?? []), s]);
          }
        }
      }
      lines.push('');
      lines.push('| redis-benchmark | direct | broker | haproxy (tcp) | broker / haproxy |');
      lines.push('| --- | --- | --- | --- | --- |');
      for (const fig of figures) {
        const slot = results.get(fig.name)!;
        const med = (p: PathName) => median(slot.get(p)!.map((s) => s.value));
        const cpu = (p: PathName) => {
          const v = slot.get(p)!.map((s) => s.cpuPerUnit).filter((x): x is number => x !== undefined);
          return v.length ? ` (${fmt(median(v) * 1e6)} µs/req CPU)` : '';
        };
        const direct = med('direct');
        const cell = (p: PathName) => `${fmt(med(p))} **${(med(p) / direct).toFixed(2)}x**${cpu(p)}`;
        lines.push(`| ${fig.name} (req/s) | ${fmt(direct)} | ${cell('broker')} | ${cell('haproxy')} | ${(med('broker') / med('haproxy')).toFixed(2)} |`);
        lines.push(`|   rounds | ${slot.get('direct')!.map((s) => fmt(s.value)).join('/')} | ${slot.get('broker')!.map((s) => fmt(s.value)).join('/')} | ${slot.get('haproxy')!.map((s) => fmt(s.value)).join('/')} | |`);
      }
    }
    if (want('scanner')) {
      const s = scannerCost();
      lines.push('');
      lines.push(`command scanner (client->server only): ${s.nsPerCommand.toFixed(1)} ns per SET/GET command in 64 KiB reads; ${(s.nsPerMiBLarge / 1000).toFixed(1)} µs per MiB of a 1 MiB value`);
    }
    const head = `Redis bench: redis-server ${(await server.cli(['INFO', 'server'])).stdout.match(/redis_version:(\S+)/)?.[1] ?? '?'}, Node ${process.version}, ${cpus()[0]?.model ?? '?'} x${availableParallelism()}, ${rounds} round(s), medians; load average ${load0.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at end`;
    console.log([head, ...lines].join('\n'));
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await server.stop();
    cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
