// Redis benchmark: the broker against direct and haproxy (mode tcp) on a throwaway
// redis-server. Figures, in interleaved rounds (medians printed): redis-benchmark GET and
// SET at -c 1 and -c 50, each without pipelining and with -P 16, in requests per second,
// plus the proxy's CPU per request from /proc, the latency each proxy adds at -c 1 (p50 /
// p99 as redis-benchmark measures them), and a microbenchmark of the command
// scanner (the one step in the broker's Redis data phase: it looks at command names to
// find AUTH and HELLO).
// Usage: node dist/test/bench/redis-bench.js [--quick] [--rounds N] [load|scanner ...]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCommandScanner } from '../../broker/connectors/redis/command-scanner.js';
import { encodeCommand } from '../../broker/connectors/redis/resp.js';
import { freePort } from '../fixtures/free-port.js';
import { startRedis, type RedisServer } from '../fixtures/redis-server.js';
import { addedLatencyRow, benchArgs, children, cpuSeconds, fmt, interleavedRounds, median, run, startBrokerProcess, startHaproxy, type Endpoint, type Figure, type PathName, type Sample } from './bench-kit.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

async function startBroker(dir: string, server: RedisServer): Promise<Endpoint> {
  const port = await freePort();
  const cfg = join(dir, 'secretless.yml');
  writeFileSync(cfg, [
    'version: "2"', 'services:', '  rd:', '    connector: redis', `    listenOn: tcp://127.0.0.1:${port}`, '    credentials:',
    '      host: 127.0.0.1', `      port: ${server.port}`, '      password: { from: env, get: SD_BENCH_REDISPASS }', '      sslmode: disable', '',
  ].join('\n'));
  return startBrokerProcess(ROOT, dir, cfg, port, { SD_BENCH_REDISPASS: server.defaultPassword });
}

/** redis-benchmark for one test (get or set); requests per second as it reports them. */
async function bench(ep: Endpoint, server: RedisServer, test: 'get' | 'set', clients: number, pipeline: number, requests: number): Promise<Sample> {
  const args = ['-h', '127.0.0.1', '-p', String(ep.port), '-t', test, '-c', String(clients), '-P', String(pipeline), '-n', String(requests), '--csv'];
  // Only direct and haproxy need the password; the broker logs in itself.
  if (ep.password) args.push('-a', server.defaultPassword);
  const cpu0 = ep.pid ? cpuSeconds(ep.pid) : 0;
  const r = await run('redis-benchmark', args);
  if (r.code !== 0) throw new Error(`redis-benchmark via ${ep.name} failed: ${r.stderr}`);
  const lines = r.stdout.split('\n');
  const row = lines.find((l) => l.startsWith(`"${test.toUpperCase()}"`));
  if (!row) throw new Error(`redis-benchmark via ${ep.name}: no ${test} row in ${r.stdout}`);
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const header = JSON.parse(`[${lines.find((l) => l.startsWith('"test"'))}]`) as string[];
  const cells = JSON.parse(`[${row}]`) as string[];
  const col = (name: string) => Number(cells[header.indexOf(name)]);
  return {
    value: col('rps'),
    cpuPerUnit: ep.pid ? (cpuSeconds(ep.pid) - cpu0) / requests : undefined,
    p50us: col('p50_latency_ms') * 1000,
    p99us: col('p99_latency_ms') * 1000,
  };
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

async function main(): Promise<void> {
  // Five rounds: the pipelined rows of the broker and haproxy differ by less than the
  // spread of three rounds on this 2-CPU machine (both proxies compete for the two CPUs
  // with redis-server and redis-benchmark).
  const { quick, rounds, want } = benchArgs(['load', 'scanner'], 5);
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
      const figures: Figure[] = [];
      for (const test of ['get', 'set'] as const)
        for (const [clients, pipeline, n] of [
          [1, 1, 10_000],
          [1, 16, 100_000],
          [50, 1, 50_000],
          // Long enough that the 50 connections' setup, which redis-benchmark times (through
          // the broker, 50 logins at the server), is under 1% of the run.
          [50, 16, 1_000_000],
        ] as const)
          figures.push({ name: `${test.toUpperCase()} -c ${clients}${pipeline > 1 ? ` -P ${pipeline}` : ''}`, measure: (ep) => bench(ep, server, test, clients, pipeline, n * scale) });
      const results = await interleavedRounds(figures, endpoints, rounds);
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
        // One client, no pipelining: each request is one round trip.
        if (/-c 1$/.test(fig.name)) lines.push(addedLatencyRow(fig.name, slot));
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
