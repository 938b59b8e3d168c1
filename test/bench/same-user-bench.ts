// What same-user enforcement costs per connection. Prints figures, asserts nothing.
//  1. The Linux lookup itself (the owner of the client's socket from /proc/net/tcp), in
//     µs per lookup, with few and with thousands of other sockets in the table (its cost
//     grows with the table: one read and a substring search).
//  2. Connection churn through the broker to a real PostgreSQL, pgbench -C (a new
//     connection per transaction), with the check on (the default) and off
//     (allowAnyUser: true), interleaved rounds: TPS and the broker's CPU µs per connection.
//
//   node dist/test/bench/same-user-bench.js [--quick] [--rounds N]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { linuxSocketOwner } from '../../broker/access/socket-owner-linux.js';
import { tcpEnds, type TcpEnds } from '../../broker/access/socket-owner.js';
import { startPgCluster } from '../fixtures/pg-cluster.js';
import { freePort } from '../fixtures/free-port.js';
import { benchArgs, children, cpuSeconds, fmt, median, run, startBrokerProcess, type Endpoint } from './bench-kit.js';

const { quick, rounds } = benchArgs([]);
const ROOT = resolve(import.meta.dirname, '../../..');

async function lookupMicros(extraSockets: number): Promise<{ median: number; cpu: number; tableRows: number }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const accepted: net.Socket[] = [];
  server.on('connection', (s) => accepted.push(s));
  const clients: net.Socket[] = [];
  for (let i = 0; i <= extraSockets; i++) {
    clients.push(net.connect(port, '127.0.0.1'));
    if (i % 200 === 199) await new Promise((r) => setTimeout(r, 20));
  }
  while (accepted.length <= extraSockets) await new Promise((r) => setTimeout(r, 10));
  const ends: TcpEnds = tcpEnds(accepted[accepted.length - 1]!)!;
  const times: number[] = [];
  const n = quick ? 200 : 2000;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    const owner = await linuxSocketOwner(ends);
    times.push(Number(process.hrtime.bigint() - t) / 1000);
    if (owner.type !== 'user') throw new Error(`lookup failed: ${JSON.stringify(owner)}`);
  }
  const cpu = process.cpuUsage(cpu0);
  const tableRows = readFileSync('/proc/net/tcp', 'latin1').split('\n').length - 2;
  for (const s of [...clients, ...accepted]) s.destroy();
  server.close();
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)]!, cpu: (cpu.user + cpu.system) / n, tableRows };
}

async function main(): Promise<void> {
  const ehash = /TCP established hash table entries: (\d+)/.exec(await run('dmesg', []).then((r) => r.stdout, () => ''))?.[1];
  console.log(`Same-user check: the socket-owner lookup (Linux, /proc/net/tcp; the kernel walks its connection hash${ehash ? ` of ${ehash} buckets` : ''})`);
  for (const extra of [0, 2000]) {
    const { median: wall, cpu, tableRows } = await lookupMicros(extra);
    console.log(`  ${String(tableRows).padStart(6)} sockets in /proc/net/tcp: ${cpu.toFixed(0).padStart(5)} µs CPU, ${wall.toFixed(0).padStart(5)} µs wall per lookup (median)`);
  }

  const dir = mkdtempSync(join(tmpdir(), 'sl-same-user-bench-'));
  const cluster = await startPgCluster({ maxConnections: 200 });
  try {
    const script = join(dir, 'select1.sql');
    writeFileSync(script, 'select 1;\n');
    const endpoints: { mode: 'on' | 'off'; ep: Endpoint }[] = [];
    for (const mode of ['on', 'off'] as const) {
      const port = await freePort();
      const cfg = join(dir, `${mode}.yml`);
      writeFileSync(
        cfg,
        `version: "2"
services:
  pg:
    connector: pg
    listenOn: tcp://127.0.0.1:${port}${mode === 'off' ? '\n    allowAnyUser: true' : ''}
    credentials: { host: 127.0.0.1, port: ${cluster.port}, username: ${cluster.users.scram.name}, password: { from: env, get: PW }, sslmode: disable }
`,
        { mode: 0o600 },
      );
      const modeDir = join(dir, mode);
      mkdirSync(modeDir);
      endpoints.push({ mode, ep: await startBrokerProcess(ROOT, modeDir, cfg, port, { PW: cluster.users.scram.password }) });
    }
    const seconds = quick ? 2 : 5;
    const results = new Map<string, { tps: number[]; cpu: number[] }>([['on', { tps: [], cpu: [] }], ['off', { tps: [], cpu: [] }]]);
    for (let r = 0; r < rounds; r++) {
      for (const { mode, ep } of r % 2 ? [...endpoints].reverse() : endpoints) {
        const cpu0 = cpuSeconds(ep.pid!);
        const out = await run('pgbench', ['-n', '-C', '-c', '4', '-j', '2', '-T', String(seconds), '-f', script, '-h', '127.0.0.1', '-p', String(ep.port), '-U', 'whoever', 'app']);
        const tps = /tps = ([\d.]+)/.exec(out.stdout);
        const done = /actually processed: (\d+)/.exec(out.stdout);
        if (!tps || !done) throw new Error(`cannot parse pgbench output: ${out.stdout.slice(-300)} ${out.stderr.slice(-300)}`);
        results.get(mode)!.tps.push(Number(tps[1]));
        results.get(mode)!.cpu.push(((cpuSeconds(ep.pid!) - cpu0) / Number(done[1])) * 1e6);
      }
    }
    const on = results.get('on')!;
    const off = results.get('off')!;
    console.log(`\nConnection churn through the broker (pgbench -C -c 4 -j 2, select 1, -T ${seconds}), ${rounds} interleaved round(s), median:`);
    console.log(`  check on  (default):           ${fmt(median(on.tps)).padStart(8)} tps   broker CPU ${median(on.cpu).toFixed(0).padStart(5)} µs/conn`);
    console.log(`  check off (allowAnyUser: true): ${fmt(median(off.tps)).padStart(8)} tps   broker CPU ${median(off.cpu).toFixed(0).padStart(5)} µs/conn`);
    console.log(`  difference: ${(median(on.cpu) - median(off.cpu)).toFixed(0)} µs of broker CPU per connection; wall time per connection ${(1e6 / median(on.tps) - 1e6 / median(off.tps)).toFixed(0)} µs (4 clients)`);
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
