// Instruction counts of the broker's hot paths, for before/after comparisons on a
// machine too loaded for wall-clock figures: `serve` runs under valgrind's callgrind,
// instrumentation starts once it is ready and warmed up, then each workload runs through
// it and the counters are dumped. Counts are user-space instructions of the broker
// process (the kernel's share of a socket write is not in them). A script, never a test.
//
//   pg     login  pgbench -C: SCRAM login, `select 1`, close        (per login)
//          tx     pgbench running `select 1`, one connection        (per transaction)
//          copy   psql COPY of 1 KiB rows to stdout                 (per MiB)
//   mysql  login  mariadb CLI: native-password login, SELECT 1, quit (per login)
//          query  mariadb-slap SELECT 1, one connection             (per query)
//   redis  get    redis-benchmark GET -c 1                          (per request)
//          get16  redis-benchmark GET -c 1 -P 16                    (per request)
//   http   ka     curl, sequential GETs on one keep-alive connection (per request)
//          close  curl, a new connection per GET                     (per request)
//
//   node dist/test/bench/instructions.js [--broker DIR]... [--protocol pg,mysql,redis] [--workload login,...] [--scale X] [--semi-space MB]
//
// Each --broker is a built checkout (its bin/secretless-desktop.js is run); default: this one.
// Each figure is printed twice: all instructions, and without V8's optimizing compilers
// and garbage collector, which run in bursts and make the first figure jump between runs.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, portOpen } from '../fixtures/free-port.js';
import { startMariaDb } from '../fixtures/mariadb-cluster.js';
import { pgBinDir, startPgCluster } from '../fixtures/pg-cluster.js';
import { startRedis } from '../fixtures/redis-server.js';
import { clientEnv } from '../fixtures/run.js';
import { waitFor } from '../fixtures/wait-for.js';

const { values } = parseArgs({
  options: {
    broker: { type: 'string', multiple: true },
    protocol: { type: 'string', default: 'pg,mysql,redis,http' },
    scale: { type: 'string', default: '1' },
    workload: { type: 'string' },
    // V8's young generation per semi-space in MB (the launcher's setting by default): its
    // size trades RSS for the garbage collector's share of each message.
    'semi-space': { type: 'string', default: '2' },
  },
});
const brokers = (values.broker ?? [process.cwd()]).map((d) => resolve(d));
const scale = Number(values.scale);
const n = (base: number) => Math.max(1, Math.round(base * scale));
/**
 * Logins before counting starts. With 10-20, half of a pg login's instructions were V8
 * compiling the login path (TurboFan on its worker threads), not the broker's own work.
 */
const WARM_LOGINS = 150;
/** Workload names to run (all when not given). */
const only = values.workload?.split(',');

interface Workload {
  name: string;
  unit: string;
  count: number;
  /** Runs the client against the broker's port (synchronously: the broker is another process). */
  run(port: number): void;
}

interface Target {
  protocol: string;
  /** The service's `credentials:` block, indented by six spaces. */
  credentials: string;
  env: Record<string, string>;
  /** More service keys (after credentials). */
  extra?: string;
  warm(port: number): void;
  workloads: Workload[];
  stop(): Promise<void>;
}

/** A database service's credentials block: the password from the broker's environment (PW). */
const dbCredentials = (port: number, username: string) =>
  `      host: 127.0.0.1\n      port: ${port}\n      username: ${username}\n      password: { from: env, get: PW }\n      sslmode: disable\n`;

function check(what: string, r: ReturnType<typeof spawnSync>): void {
  if (r.status !== 0) throw new Error(`${what} failed: ${r.stderr?.toString() ?? ''}${r.error?.message ?? ''}`);
}

async function pgTarget(dir: string): Promise<Target> {
  const cluster = await startPgCluster();
  const bin = await pgBinDir();
  writeFileSync(join(dir, 'select1.sql'), 'select 1;\n');
  const env = { ...clientEnv(), PGPASSWORD: 'ignored', PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '300' };
  const pgbench = (port: number, args: string[]) => check('pgbench', spawnSync(join(bin, 'pgbench'), ['-n', ...args, '-h', '127.0.0.1', '-p', String(port), '-U', 'x', 'app'], { env }));
  const logins = n(500);
  const tx = n(5000);
  const copyMib = n(32);
  return {
    protocol: 'pg',
    credentials: dbCredentials(cluster.port, cluster.users.scram.name),
    env: { PW: cluster.users.scram.password },
    warm: (port) => {
      pgbench(port, ['-C', '-t', String(WARM_LOGINS), '-f', join(dir, 'select1.sql')]);
      pgbench(port, ['-t', '500', '-f', join(dir, 'select1.sql')]);
    },
    workloads: [
      { name: 'login', unit: 'login', count: logins, run: (port) => pgbench(port, ['-C', '-t', String(logins), '-f', join(dir, 'select1.sql')]) },
      { name: 'tx', unit: 'transaction', count: tx, run: (port) => pgbench(port, ['-t', String(tx), '-f', join(dir, 'select1.sql')]) },
      {
        name: 'copy',
        unit: 'MiB',
        count: copyMib,
        run: (port) =>
          check('psql', spawnSync(join(bin, 'psql'), ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', 'x', '-d', 'app', '-c', `copy (select repeat('x', 1023) from generate_series(1, ${copyMib * 1024})) to stdout`], { env, maxBuffer: 1 << 30 })),
      },
    ],
    stop: () => cluster.stop(),
  };
}

async function mysqlTarget(): Promise<Target> {
  const db = await startMariaDb();
  const cli = (port: number, args: string[]) => check('mariadb', spawnSync('mariadb', ['--no-defaults', '-h', '127.0.0.1', '-P', String(port), '-u', 'x', 'app', ...args]));
  const slap = (port: number, queries: number) =>
    check('mariadb-slap', spawnSync('mariadb-slap', ['--no-defaults', '-h', '127.0.0.1', '-P', String(port), '-u', 'x', '--create-schema=app', '--no-drop', '--query=SELECT 1', '--concurrency=1', `--number-of-queries=${queries}`, '--iterations=1']));
  const logins = n(300);
  const queries = n(5000);
  return {
    protocol: 'mysql',
    credentials: dbCredentials(db.port, db.users.native.name),
    env: { PW: db.users.native.password },
    warm: (port) => {
      for (let i = 0; i < WARM_LOGINS; i++) cli(port, ['-e', 'SELECT 1']);
      slap(port, 500);
    },
    workloads: [
      { name: 'login', unit: 'login', count: logins, run: (port) => { for (let i = 0; i < logins; i++) cli(port, ['-e', 'SELECT 1']); } },
      { name: 'query', unit: 'query', count: queries, run: (port) => slap(port, queries) },
    ],
    stop: () => db.stop(),
  };
}

async function redisTarget(): Promise<Target> {
  const server = await startRedis({ auth: 'requirepass' });
  const bench = (port: number, requests: number, pipeline: number) =>
    check('redis-benchmark', spawnSync('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '-t', 'get', '-c', '1', '-P', String(pipeline), '-n', String(requests), '-q']));
  const single = n(10_000);
  const piped = n(100_000);
  return {
    protocol: 'redis',
    credentials: `      host: 127.0.0.1\n      port: ${server.port}\n      password: { from: env, get: PW }\n      sslmode: disable\n`,
    env: { PW: server.defaultPassword },
    warm: (port) => {
      bench(port, 2000, 1);
      bench(port, 20_000, 16);
    },
    workloads: [
      { name: 'get', unit: 'request', count: single, run: (port) => bench(port, single, 1) },
      { name: 'get16', unit: 'request', count: piped, run: (port) => bench(port, piped, 16) },
    ],
    stop: () => server.stop(),
  };
}

async function httpTarget(): Promise<Target> {
  // The upstream's own cost is not counted: a minimal Node server will do, in its own
  // process (the clients run with spawnSync, which blocks this one's event loop).
  const upstreamPort = await freePort();
  const upstream = spawn(process.execPath, ['-e', `require('node:http').createServer((q, s) => s.end('ok\\n')).listen(${upstreamPort}, '127.0.0.1')`]);
  await waitFor('the upstream to listen', () => portOpen(upstreamPort));
  // curl reuses its connection for the URLs of one glob; `Connection: close` makes it reconnect each time.
  const curl = (port: number, count: number, close: boolean) =>
    check('curl', spawnSync('curl', ['-sf', '-o', '/dev/null', ...(close ? ['-H', 'Connection: close'] : []), `http://127.0.0.1:${port}/ok?[1-${count}]`]));
  const ka = n(2000);
  const closing = n(500);
  return {
    protocol: 'http',
    credentials: '      token: { from: env, get: PW }\n',
    env: { PW: 'bench-token' },
    extra: `    config: { upstream: "http://127.0.0.1:${upstreamPort}" }\n`,
    warm: (port) => {
      curl(port, n(500), false);
      curl(port, n(100), true);
    },
    workloads: [
      { name: 'ka', unit: 'request', count: ka, run: (port) => curl(port, ka, false) },
      { name: 'close', unit: 'request', count: closing, run: (port) => curl(port, closing, true) },
    ],
    stop: async () => void upstream.kill(),
  };
}

/** Total instructions (Ir) in a callgrind dump. */
function totalIr(file: string): number {
  const m = /^(?:summary|totals):\s+(\d+)/m.exec(readFileSync(file, 'utf8'));
  if (!m) throw new Error(`no totals in ${file}`);
  return Number(m[1]);
}

/**
 * V8's own share of a dump: its optimizing compilers and its garbage collector (self
 * cost of their functions). Both come in bursts (a tier-up, a major GC), so a window of
 * a few hundred logins can hold one or none: the rest is the steadier figure to compare.
 */
function v8Share(file: string): { jit: number; gc: number } {
  const r = spawnSync('callgrind_annotate', ['--inclusive=no', '--threshold=100', file], { encoding: 'utf8', maxBuffer: 1 << 28 });
  let jit = 0;
  let gc = 0;
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*([\d,]+) \(/.exec(line);
    if (!m || line.includes('PROGRAM TOTALS')) continue;
    const ir = Number(m[1]!.replace(/,/g, ''));
    if (/v8::internal::(compiler|maglev)::/.test(line)) jit += ir;
    // A major GC also shows as incremental marking, slot updating, the marker's chunk map,
    // object sizing and the string table's cleanup.
    else if (/v8::internal::(Scaveng|Mark|ConcurrentMarking|IncrementalMarking|Sweep|Heap::|Evacuat|MinorMark|MemoryAllocator|RememberedSet|PointersUpdating|RecordMigratedSlot|LiveObjectRange|HeapObject::SizeFromMap|InternalizedStringTableCleaner)|heap::base::|_Map_base<v8::internal::MemoryChunk\*/.test(line)) gc += ir;
  }
  return { jit, gc };
}

/** Instructions per unit of each workload, through one broker build. */
interface Count {
  /** Instructions per unit, all of them. */
  total: number;
  /** Per unit, without V8's compilers and garbage collector. */
  own: number;
}

async function measure(broker: string, target: Target, dir: string, tag: string): Promise<Map<string, Count>> {
  const port = await freePort();
  const cfg = join(dir, `secretless-${tag}.yml`);
  writeFileSync(cfg, `version: "2"\nservices:\n  db:\n    connector: ${target.protocol}\n    listenOn: tcp://127.0.0.1:${port}\n    credentials:\n${target.credentials}${target.extra ?? ''}`);
  const out = join(dir, `callgrind.${tag}`);
  // Not instrumented until the workload starts: startup under full instrumentation takes minutes.
  const child = spawn('valgrind', ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${out}`, process.execPath, `--max-semi-space-size=${values['semi-space']}`, join(broker, 'bin', 'secretless-desktop.js'), 'serve', '-f', cfg, '--audit-log', join(dir, `audit-${tag}.jsonl`)], {
    env: { ...clientEnv(), ...target.env, XDG_STATE_HOME: join(dir, 'state'), XDG_CONFIG_HOME: join(dir, 'config') },
  });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const result = new Map<string, Count>();
  try {
    await waitFor(() => `serve under valgrind to be ready:\n${log}`, () => /ready/.test(log), 600_000);
    const control = (...args: string[]) => spawnSync('callgrind_control', [...args, String(child.pid)], { encoding: 'utf8' });
    target.warm(port); // the JIT compiles the paths
    control('-i', 'on');
    for (const w of target.workloads) {
      control('-z');
      w.run(port);
      control('-d');
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  const dumps = readdirSync(dir)
    .filter((f) => f.startsWith(`callgrind.${tag}.`))
    .sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
  target.workloads.forEach((w, i) => {
    const file = join(dir, dumps[i]!);
    const total = totalIr(file);
    const { jit, gc } = v8Share(file);
    result.set(w.name, { total: Math.round(total / w.count), own: Math.round((total - jit - gc) / w.count) });
  });
  return result;
}

const makers: Record<string, (dir: string) => Promise<Target>> = { pg: pgTarget, mysql: mysqlTarget, redis: redisTarget, http: httpTarget };
const dir = mkdtempSync(join(tmpdir(), 'sd-instr-'));
process.stderr.write(`callgrind dumps in ${dir}\n`);
const lines: string[] = [`instructions (callgrind Ir, user space) per unit; builds: ${brokers.join(', ')}`];
for (const protocol of values.protocol!.split(',')) {
  const make = makers[protocol];
  if (!make) throw new Error(`unknown protocol '${protocol}'`);
  const target = await make(dir);
  if (only) target.workloads = target.workloads.filter((w) => only.includes(w.name));
  try {
    const perBroker: Map<string, Count>[] = [];
    for (const [i, broker] of brokers.entries()) perBroker.push(await measure(broker, target, dir, `${protocol}${i}`));
    for (const w of target.workloads) {
      const counts = perBroker.map((m) => m.get(w.name)!);
      const ratio = (f: (c: Count) => number) => (counts.length === 2 ? ` (second / first ${(f(counts[1]!) / f(counts[0]!)).toFixed(3)})` : '');
      const list = (f: (c: Count) => number) => counts.map((c) => f(c).toLocaleString('en')).join(' | ');
      const line = `${protocol} ${w.name} (${w.count} x): ${list((c) => c.total)} per ${w.unit}${ratio((c) => c.total)}; without V8's JIT and GC: ${list((c) => c.own)}${ratio((c) => c.own)}`;
      process.stderr.write(`${line}\n`);
      lines.push(line);
    }
  } finally {
    await target.stop();
  }
}
process.stdout.write(`${lines.join('\n')}\n`);
