// MySQL benchmark: the broker against direct and haproxy (mode tcp) on a throwaway
// MariaDB. Figures, in interleaved rounds (medians printed):
//   select  mariadb-slap, SELECT 1, 8 clients and 1 client: queries per second
//           mysql2 SELECT 1 one after another on one connection: the latency each proxy adds (p50 / p99)
//   churn   mysql2 connect + SELECT 1 + quit, 4 at a time: connections per second
// plus the proxy's CPU per query / per connection from /proc, the broker's RSS per held
// connection, and a microbenchmark of the COM_CHANGE_USER filter (the one per-packet step
// in the broker's data phase).
// Usage: node dist/test/bench/mysql-bench.js [--quick] [--rounds N] [select|churn|memory|filter ...]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { encodePacket } from '../../broker/connectors/mysql/codec.js';
import { createCommandFilter } from '../../broker/connectors/mysql/command-filter.js';
import { freePort } from '../fixtures/free-port.js';
import { startMariaDb, type MariaDb } from '../fixtures/mariadb-cluster.js';
import { addedLatencyRow, benchArgs, children, cpuSeconds, fmt, interleavedRounds, median, run, startBrokerProcess, startHaproxy, startNodeFloor, cpuSplit, type Endpoint, type Figure, type PathName, percentiles, type Sample } from './bench-kit.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

async function startBroker(dir: string, db: MariaDb): Promise<Endpoint> {
  const port = await freePort();
  const cfg = join(dir, 'secretless.yml');
  writeFileSync(cfg, [
    'version: "2"', 'services:', '  my:', '    connector: mysql', `    listenOn: tcp://127.0.0.1:${port}`, '    credentials:',
    '      host: 127.0.0.1', `      port: ${db.port}`, `      username: ${db.users.native.name}`, '      password: { from: env, get: SD_BENCH_MYPASS }',
    '      sslmode: disable', '',
  ].join('\n'));
  return startBrokerProcess(ROOT, dir, cfg, port, { SD_BENCH_MYPASS: db.users.native.password });
}

async function comSelect(db: MariaDb): Promise<number> {
  return Number((await db.sql("SHOW GLOBAL STATUS LIKE 'Com_select'")).trim().split('\t')[1]);
}

/** mariadb-slap running SELECT 1 on `clients` connections; queries per second from the server's Com_select. */
async function slap(ep: Endpoint, db: MariaDb, clients: number, queries: number): Promise<Sample> {
  const args = ['--no-defaults', '-h', '127.0.0.1', '-P', String(ep.port), '-u', db.users.native.name, '--create-schema=app', '--no-drop',
    '--query=SELECT 1', `--concurrency=${clients}`, `--number-of-queries=${queries}`, '--iterations=1'];
  if (ep.password) args.push(`--password=${db.users.native.password}`);
  const before = await comSelect(db);
  const cpu0 = ep.pid ? cpuSeconds(ep.pid) : 0;
  const t0 = performance.now();
  const r = await run('mariadb-slap', args);
  const seconds = (performance.now() - t0) / 1000;
  if (r.code !== 0) throw new Error(`mariadb-slap via ${ep.name} failed: ${r.stderr}`);
  const done = (await comSelect(db)) - before - 1;
  return { value: done / seconds, cpuPerUnit: ep.pid ? (cpuSeconds(ep.pid) - cpu0) / done : undefined };
}

/** mysql2, one connection: `count` SELECT 1 one after another; queries per second and each round trip's time. */
async function roundTrips(ep: Endpoint, db: MariaDb, count: number): Promise<Sample> {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port: ep.port, user: db.users.native.name, password: ep.password ? db.users.native.password : '', database: 'app' });
  try {
    for (let i = 0; i < 200; i++) await conn.query('SELECT 1'); // warm-up
    const times: number[] = [];
    const cpu0 = ep.pid ? cpuSeconds(ep.pid) : 0;
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      await conn.query('SELECT 1');
      times.push((performance.now() - t) * 1000);
    }
    const seconds = (performance.now() - t0) / 1000;
    return { value: count / seconds, cpuPerUnit: ep.pid ? (cpuSeconds(ep.pid) - cpu0) / count : undefined, ...percentiles(times) };
  } finally {
    await conn.end();
  }
}

/** mysql2: connect, SELECT 1, quit, `parallel` at a time for `seconds`; connections per second. */
async function churn(ep: Endpoint, db: MariaDb, parallel: number, seconds: number): Promise<Sample> {
  const end = performance.now() + seconds * 1000;
  let count = 0;
  const cpu0 = ep.pid ? cpuSplit(ep.pid) : undefined;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (performance.now() < end) {
        const conn = await mysql.createConnection({
          host: '127.0.0.1', port: ep.port, user: db.users.native.name, password: ep.password ? db.users.native.password : '', database: 'app',
        });
        await conn.query('SELECT 1');
        await conn.end();
        count++;
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  if (!cpu0) return { value: count / elapsed };
  const cpu1 = cpuSplit(ep.pid!);
  return { value: count / elapsed, cpuPerUnit: (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / count, userPerUnit: (cpu1.user - cpu0.user) / count };
}

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

/** Broker RSS growth per held (idle, logged-in) connection pair, after one warm-up connection. */
async function heldMemory(ep: Endpoint, db: MariaDb, n: number): Promise<number> {
  const warm = await mysql.createConnection({ host: '127.0.0.1', port: ep.port, user: 'x', database: 'app' });
  await warm.query('SELECT 1');
  await warm.end();
  await new Promise((r) => setTimeout(r, 500));
  const before = rssKb(ep.pid!);
  const conns: mysql.Connection[] = [];
  for (let i = 0; i < n; i += 20)
    conns.push(...(await Promise.all(Array.from({ length: Math.min(20, n - i) }, () => mysql.createConnection({ host: '127.0.0.1', port: ep.port, user: 'x', database: 'app' })))));
  await Promise.all(conns.map((c) => c.query('SELECT 1')));
  await new Promise((r) => setTimeout(r, 1000));
  const after = rssKb(ep.pid!);
  await Promise.all(conns.map((c) => c.end()));
  void db;
  return (after - before) / n;
}

/** ns per client->server packet spent in the COM_CHANGE_USER filter (typical small COM_QUERY packets, 64 KiB reads). */
function filterCost(): { nsPerPacket: number; nsPerMiB: number } {
  const one = encodePacket(0, Buffer.from('\x03SELECT id, name FROM items WHERE id = 1'));
  const perChunk = Math.floor(65536 / one.length);
  const chunk = Buffer.concat(Array.from({ length: perChunk }, () => one));
  const filter = createCommandFilter();
  for (let i = 0; i < 2000; i++) filter.push(chunk);
  const rounds = 20_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) filter.push(chunk);
  const ns = Number(process.hrtime.bigint() - t0);
  return { nsPerPacket: ns / (rounds * perChunk), nsPerMiB: ns / ((rounds * chunk.length) / (1 << 20)) };
}

async function main(): Promise<void> {
  const { quick, rounds, want } = benchArgs(['select', 'churn', 'filter', 'memory']);
  const dir = mkdtempSync(join(tmpdir(), 'sd-mybench-'));
  const db = await startMariaDb({ maxConnections: 500 });
  const cleanup = () => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', cleanup);
  try {
    const endpoints: Endpoint[] = [{ name: 'direct', port: db.port, password: true }, await startBroker(dir, db), await startHaproxy(dir, db.port)];
    // The bare Node proxy only where a login is the work (churn): after login it moves bytes with the broker's own pump.
    if (want('churn')) endpoints.push(await startNodeFloor(ROOT, dir, db.port));
    const threePaths: PathName[] = ['direct', 'broker', 'haproxy'];
    const figures: (Figure & { unit: string; cpuUnit: string })[] = [];
    const q = quick ? 20_000 : 60_000;
    if (want('select')) {
      figures.push({ name: 'mariadb-slap SELECT 1, 8 clients', paths: threePaths, unit: 'q/s', cpuUnit: 'µs/q', measure: (ep) => slap(ep, db, 8, q) });
      figures.push({ name: 'mariadb-slap SELECT 1, 1 client', paths: threePaths, unit: 'q/s', cpuUnit: 'µs/q', measure: (ep) => slap(ep, db, 1, q / 4) });
      figures.push({ name: 'SELECT 1 round trips, 1 client (mysql2)', paths: threePaths, unit: 'q/s', cpuUnit: 'µs/q', measure: (ep) => roundTrips(ep, db, q / 4) });
    }
    if (want('churn'))
      figures.push({ name: 'connection churn (mysql2 connect+SELECT 1+quit, 4 parallel)', unit: 'conn/s', cpuUnit: 'µs/conn', measure: (ep) => churn(ep, db, 4, quick ? 3 : 6) });
    const results = await interleavedRounds(figures, endpoints, rounds);
    const lines: string[] = [];
    lines.push(`MySQL bench: MariaDB ${(await db.sql('SELECT VERSION()')).trim()}, Node ${process.version}, ${cpus()[0]?.model ?? '?'} x${availableParallelism()}, ${rounds} round(s), medians`);
    if (figures.length) {
      lines.push('');
      lines.push('| figure | direct | broker | haproxy (tcp) | bare Node proxy (node-floor.ts) |');
      lines.push('| --- | --- | --- | --- | --- |');
    }
    for (const fig of figures) {
      const slot = results.get(fig.name)!;
      const med = (p: PathName) => median(slot.get(p)!.map((s) => s.value));
      const cpu = (p: PathName) => {
        const v = slot.get(p)!.map((s) => s.cpuPerUnit).filter((x): x is number => x !== undefined);
        const user = slot.get(p)!.map((s) => s.userPerUnit).filter((x): x is number => x !== undefined);
        const split = user.length ? `, ${fmt(median(user) * 1e6)} in user space` : '';
        return v.length ? ` (${fmt(median(v) * 1e6)} ${fig.cpuUnit} CPU${split})` : '';
      };
      const direct = med('direct');
      const cell = (p: PathName) => (slot.has(p) ? `${fmt(med(p))} ${fig.unit} **${(med(p) / direct).toFixed(2)}x**${cpu(p)}` : '-');
      const range = (p: PathName) => slot.get(p)?.map((s) => fmt(s.value)).join('/') ?? '-';
      lines.push(`| ${fig.name} | ${fmt(direct)} ${fig.unit} | ${cell('broker')} | ${cell('haproxy')} | ${cell('node')} |`);
      lines.push(`|   rounds | ${range('direct')} | ${range('broker')} | ${range('haproxy')} | ${range('node')} |`);
      if (slot.get('direct')![0]!.p50us !== undefined) lines.push(`${addedLatencyRow(fig.name, slot, false)} - |`);
    }
    if (want('memory')) {
      const n = quick ? 100 : 300;
      // A fresh broker: the one above has grown its heap during the load, which new
      // connections would reuse, understating what each one costs.
      const fresh = await startBroker(dir, db);
      const perPair = await heldMemory(fresh, db, n);
      lines.push('');
      lines.push(`broker RSS per held connection pair (${n} idle, logged in, fresh broker): ${perPair.toFixed(1)} kB`);
    }
    if (want('filter')) {
      const f = filterCost();
      lines.push('');
      lines.push(`COM_CHANGE_USER filter (client->server direction only): ${f.nsPerPacket.toFixed(1)} ns per small command packet, ${(f.nsPerMiB / 1000).toFixed(1)} µs per MiB`);
    }
    console.log(lines.join('\n'));
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await db.stop();
    cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
