// PostgreSQL benchmark: the broker against direct, haproxy (tcp pass-through) and pgbouncer
// (session pooling) on loopback, one throwaway cluster, interleaved rounds in rotating
// order so drift (thermal, page cache, neighbours) spreads over every path alike.
// A script that prints figures, never a test with timed assertions.
//
//   node dist/test/bench/pg-bench.js [--quick] [--rounds N] [--duration S]
//        [--paths direct,broker,haproxy,pgbouncer] [tps|latency|churn|copy|pipe|memory ...]
//
// latency: pgbench -S -c 1 with each transaction timed (-l); the table shows the p50 and
// p99 round trip and what each proxy adds to direct's.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { freePort } from '../fixtures/free-port.js';
import { pgBinDir, startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { pumpSetting } from './bench-kit.js';

// ---------- options ----------

const SECTIONS = ['tps', 'latency', 'churn', 'copy', 'pipe', 'memory'] as const;
type Section = (typeof SECTIONS)[number];
const PATHS = ['direct', 'broker', 'haproxy', 'pgbouncer'] as const;
type PathName = (typeof PATHS)[number];

interface Options {
  rounds: number;
  /** pgbench -T seconds per run. */
  duration: number;
  sections: Set<Section>;
  paths: PathName[];
  copyRows: number;
  /** Transactions per latency run (pgbench -c 1 -t N, each one timed). */
  latencyTx: number;
  pipeBytes: number;
  memConns: number;
  brokerArgs: string[];
}

const USAGE = `usage: pg-bench [--quick] [--rounds N] [--duration S] [--paths ${PATHS.join(',')}] [--broker-args='--flag ...'] [${SECTIONS.join('|')} ...]`;

function parseOptions(argv: string[]): Options {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      paths: { type: 'string' },
      'broker-args': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const quick = values.quick!;
  for (const p of positionals) if (!SECTIONS.includes(p as Section)) throw new Error(`unknown section '${p}'`);
  const paths = values.paths ? values.paths.split(',') : [...PATHS];
  for (const p of paths) if (!PATHS.includes(p as PathName)) throw new Error(`unknown path '${p}'`);
  if (!paths.includes('direct')) paths.unshift('direct'); // ratios need the baseline
  return {
    rounds: Number(values.rounds ?? (quick ? 1 : 3)),
    duration: Number(values.duration ?? (quick ? 3 : 6)),
    sections: new Set((positionals.length ? positionals : SECTIONS) as Section[]),
    paths: paths as PathName[],
    copyRows: quick ? 100_000 : 500_000,
    latencyTx: quick ? 5_000 : 20_000,
    pipeBytes: (quick ? 256 : 1024) * 2 ** 20,
    memConns: quick ? 200 : 500,
    brokerArgs: values['broker-args']?.split(/\s+/).filter(Boolean) ?? [],
  };
}

// ---------- small process helpers ----------

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../../..'); // dist/test/bench -> project root
const children = new Set<ChildProcess>();

/** Environment without PG* variables: every path gets exactly the settings we give it. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  return { ...env, ...extra };
}

interface RunResult {
  stdout: string;
  stderr: string;
  ms: number;
}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; stdoutTo?: number } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, args, { env: opts.env ?? cleanEnv(), stdio: ['ignore', opts.stdoutTo ?? 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (code === 0) resolvePromise({ stdout, stderr, ms });
      else reject(new Error(`${cmd} exited with ${code ?? signal}: ${(stderr || stdout).trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] || 'not found';
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitForPort(port: number, child: ChildProcess, what: string, logFile: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}): ${tail(logFile)}`);
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ host: '127.0.0.1', port }, () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms: ${tail(logFile)}`);
}

function tail(file: string, lines = 8): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---------- /proc sampling ----------

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** utime+stime of a process (all threads) in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // comm may contain spaces
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // fields 14 and 15 of stat(5)
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

// ---------- raw PostgreSQL wire client (startup only, no auth) ----------

function startupMessage(params: Record<string, string>): Buffer {
  const body = Buffer.from(Object.entries(params).map(([k, v]) => `${k}\0${v}\0`).join('') + '\0');
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(196608, 4); // protocol 3.0
  return Buffer.concat([head, body]);
}

function errorText(body: Buffer): string {
  const fields: Record<string, string> = {};
  for (const part of body.toString('utf8').split('\0')) if (part) fields[part[0]!] = part.slice(1);
  return `${fields.C ?? ''} ${fields.M ?? 'error'}`.trim();
}

interface Started {
  socket: Socket;
  /** Bytes received after ReadyForQuery. */
  leftover: Buffer;
}

/** Sends a StartupMessage and waits for ReadyForQuery. The server (or broker) must not ask for auth. */
function rawStartup(port: number, user: string, database: string): Promise<Started> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let buf: Buffer = Buffer.alloc(0);
    const fail = (err: Error): void => {
      socket.destroy();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 5) {
        const type = String.fromCharCode(buf[0]!);
        const len = buf.readInt32BE(1);
        if (buf.length < 1 + len) return;
        const body = buf.subarray(5, 1 + len);
        buf = buf.subarray(1 + len);
        if (type === 'E') return fail(new Error(`startup failed: ${errorText(body)}`));
        if (type === 'R' && body.readInt32BE(0) !== 0) return fail(new Error(`server asked for auth method ${body.readInt32BE(0)}`));
        if (type === 'Z') {
          socket.off('data', onData);
          socket.off('error', fail);
          return resolvePromise({ socket, leftover: buf });
        }
      }
    };
    socket.on('data', onData);
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('closed during startup')));
    socket.write(startupMessage({ user, database }));
  });
}

// ---------- fake PostgreSQL server (worker thread) for raw pipe throughput ----------

interface FakeServerData {
  bytes: number;
}

function backendMessage(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

function int32s(...values: number[]): Buffer {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeInt32BE(v, 4 * i));
  return b;
}

/** AuthenticationOk, a few ParameterStatus, BackendKeyData, ReadyForQuery: a trust login. */
function trustLoginReply(): Buffer {
  const param = (k: string, v: string): Buffer => backendMessage('S', Buffer.from(`${k}\0${v}\0`));
  return Buffer.concat([
    backendMessage('R', int32s(0)),
    param('server_version', '15.0 (bench fake)'),
    param('client_encoding', 'UTF8'),
    param('server_encoding', 'UTF8'),
    param('DateStyle', 'ISO, MDY'),
    param('integer_datetimes', 'on'),
    param('standard_conforming_strings', 'on'),
    backendMessage('K', int32s(process.pid, 12345)),
    backendMessage('Z', Buffer.from('I')),
  ]);
}

/** 64 KiB of CopyData messages, 8 KiB each, written over and over (no copying). */
function copyDataChunk(): Buffer {
  const msg = backendMessage('d', Buffer.alloc(8192 - 5, 'x'));
  return Buffer.concat(Array.from({ length: 8 }, () => msg));
}

function streamBytes(socket: Socket, total: number): void {
  const chunk = copyDataChunk();
  let sent = 0;
  const pump = (): void => {
    while (sent < total) {
      const piece = total - sent >= chunk.length ? chunk : chunk.subarray(0, total - sent);
      sent += piece.length;
      if (!socket.write(piece)) return void socket.once('drain', pump);
    }
    socket.end();
  };
  pump();
}

function handleFakeClient(socket: Socket, bytes: number): void {
  let buf: Buffer = Buffer.alloc(0);
  socket.on('error', () => socket.destroy());
  const onData = (chunk: Buffer): void => {
    buf = Buffer.concat([buf, chunk]);
    if (buf.length < 8) return;
    const len = buf.readInt32BE(0);
    if (buf.length < len) return;
    const code = buf.readInt32BE(4);
    buf = buf.subarray(len);
    if (code === 80877103 || code === 80877104) return void socket.write('N'); // SSL/GSS: not here
    if (code !== 196608) return void socket.destroy();
    socket.off('data', onData);
    socket.write(trustLoginReply());
    streamBytes(socket, bytes);
  };
  socket.on('data', onData);
}

function runFakeServer(data: FakeServerData): void {
  const server = createServer((socket) => handleFakeClient(socket, data.bytes));
  server.listen({ host: '127.0.0.1', port: 0 }, () => {
    const address = server.address();
    parentPort!.postMessage(typeof address === 'object' && address ? address.port : 0);
  });
}

async function startFakeServer(bytes: number): Promise<{ port: number; worker: Worker }> {
  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { bytes } satisfies FakeServerData });
  const port = await new Promise<number>((r, reject) => {
    worker.once('message', r);
    worker.once('error', reject);
  });
  worker.unref();
  return { port, worker };
}

/** Startup through `port`, then count `bytes` of data; returns bytes per second. */
async function pipeThroughput(port: number, bytes: number): Promise<number> {
  const { socket, leftover } = await rawStartup(port, 'bench', 'bench');
  const start = process.hrtime.bigint();
  return new Promise((resolvePromise, reject) => {
    let got = leftover.length;
    const finish = (): void => {
      const secs = Number(process.hrtime.bigint() - start) / 1e9;
      socket.destroy();
      resolvePromise(bytes / secs);
    };
    socket.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got >= bytes) finish();
    });
    socket.on('error', reject);
    socket.on('close', () => got < bytes && reject(new Error(`stream ended after ${got} of ${bytes} bytes`)));
    if (got >= bytes) finish();
  });
}

// ---------- the paths ----------

interface Endpoint {
  name: PathName;
  port: number;
  /** Process whose CPU time is charged to this path (proxies only). */
  pid?: number;
  /** Port of the fake server behind this path, for the pipe section. */
  pipePort?: number;
  /** Whether the client supplies the password. */
  clientPassword: boolean;
}

interface Setup {
  cluster: PgCluster;
  dir: string;
  fakePort?: number;
  endpoints: Map<PathName, Endpoint>;
  skipped: Map<PathName, string>;
  brokerConfig?: string;
  broker?: ChildProcess;
  /** Extra arguments for `secretless-desktop serve`. */
  brokerArgs: string[];
}

function benchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sd-bench-'));
  // pgbouncer runs as postgres and must read its config here.
  if (process.getuid?.() === 0) chownSync(dir, postgresUid().uid, postgresUid().gid);
  return dir;
}

function postgresUid(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('no postgres OS user');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function spawnLogged(cmd: string, args: string[], logFile: string, opts: { env?: NodeJS.ProcessEnv; uid?: number; gid?: number } = {}): ChildProcess {
  const fd = openSync(logFile, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: opts.env ?? cleanEnv(), uid: opts.uid, gid: opts.gid });
  closeSync(fd);
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

async function startHaproxy(dir: string, pgPort: number, fakePort: number | undefined): Promise<Endpoint> {
  const [port, pipePort] = await Promise.all([freePort(), freePort()]);
  const cfg = join(dir, 'haproxy.cfg');
  const fake = fakePort
    ? `\nfrontend fake\n  bind 127.0.0.1:${pipePort}\n  default_backend fake\nbackend fake\n  server fake1 127.0.0.1:${fakePort}\n`
    : '';
  writeFileSync(cfg, [
    'global', '  maxconn 4000', '',
    'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 1h', '  timeout server 1h', '',
    'frontend pg', `  bind 127.0.0.1:${port}`, '  default_backend pg',
    'backend pg', `  server pg1 127.0.0.1:${pgPort}`, fake,
  ].join('\n'));
  const log = join(dir, 'haproxy.log');
  const child = spawnLogged('haproxy', ['-db', '-f', cfg], log);
  await waitForPort(port, child, 'haproxy', log);
  return { name: 'haproxy', port, pid: child.pid!, clientPassword: true, ...(fakePort ? { pipePort } : {}) };
}

async function startPgbouncer(dir: string, cluster: PgCluster): Promise<Endpoint> {
  const port = await freePort();
  const user = cluster.users.scram;
  const ini = join(dir, 'pgbouncer.ini');
  // auth_type=any: clients are not authenticated; pgbouncer logs in to the server with the
  // user/password from the connection string (the password lives only in this 0600 file).
  writeFileSync(ini, [
    '[databases]',
    `app = host=127.0.0.1 port=${cluster.port} dbname=app user=${user.name} password=${user.password}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1', `listen_port = ${port}`, 'unix_socket_dir =',
    'auth_type = any', 'pool_mode = session', 'max_client_conn = 2000', 'default_pool_size = 20',
    'ignore_startup_parameters = extra_float_digits', '',
  ].join('\n'), { mode: 0o600 });
  const root = process.getuid?.() === 0;
  if (root) chownSync(ini, postgresUid().uid, postgresUid().gid);
  const log = join(dir, 'pgbouncer.log');
  // pgbouncer refuses to run as root; spawn it as postgres directly so its pid is ours to sample.
  const child = spawnLogged('pgbouncer', [ini], log, root ? postgresUid() : {});
  await waitForPort(port, child, 'pgbouncer', log);
  return { name: 'pgbouncer', port, pid: child.pid!, clientPassword: false };
}

function brokerYaml(pgService: { port: number; listen: number }, fake?: { port: number; listen: number }): string {
  const service = (name: string, listen: number, port: number, user: string, envVar: string): string => [
    `  ${name}:`,
    '    connector: pg',
    `    listenOn: tcp://127.0.0.1:${listen}`,
    '    credentials:',
    '      host: 127.0.0.1',
    `      port: ${port}`,
    `      username: ${user}`,
    `      password: { from: env, get: ${envVar} }`,
    '      sslmode: disable',
  ].join('\n');
  return [
    'version: "2"',
    'services:',
    service('pg', pgService.listen, pgService.port, 'scram_user', 'SD_BENCH_PGPASS'),
    ...(fake ? [service('fake', fake.listen, fake.port, 'bench', 'SD_BENCH_FAKEPASS')] : []),
    '',
  ].join('\n');
}

/** Starts `secretless-desktop serve` and waits for one "listening" line per service. */
async function startBroker(setup: Setup, cfgPath: string, services: number): Promise<ChildProcess> {
  const bin = join(ROOT, 'bin', 'secretless-desktop.js');
  const log = join(setup.dir, 'broker.log');
  const env = cleanEnv({ SD_BENCH_PGPASS: setup.cluster.users.scram.password, SD_BENCH_FAKEPASS: 'unused-by-trust', ...pumpSetting() });
  // Run the launcher itself (not `node launcher`) so its V8 flags apply, as for users.
  const args = ['serve', '-f', cfgPath, '--audit-log', join(setup.dir, 'audit.jsonl'), ...setup.brokerArgs];
  const child = spawn(bin, args, {
    env, stdio: ['ignore', openSync(log, 'a'), 'pipe'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  await new Promise<void>((resolvePromise, reject) => {
    let seen = 0;
    let text = '';
    const timer = setTimeout(() => reject(new Error(`broker not listening after 20 s: ${text.trim().slice(-500)}`)), 20_000);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      text += d;
      seen = (text.match(/listening/g) ?? []).length;
      if (seen >= services) {
        clearTimeout(timer);
        resolvePromise();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`broker exited (${code}): ${text.trim().slice(-500)}`));
    });
  });
  child.stderr!.removeAllListeners('data');
  child.stderr!.resume(); // keep draining so a chatty broker never blocks on a full pipe
  return child;
}

async function setupBroker(setup: Setup): Promise<Endpoint> {
  if (!existsSync(join(ROOT, 'dist', 'broker', 'cli.js'))) throw new Error('dist/broker/cli.js missing (broker not built)');
  const [listen, fakeListen] = await Promise.all([freePort(), freePort()]);
  const fake = setup.fakePort ? { port: setup.fakePort, listen: fakeListen } : undefined;
  setup.brokerConfig = join(setup.dir, 'secretless.yml');
  writeFileSync(setup.brokerConfig, brokerYaml({ port: setup.cluster.port, listen }, fake));
  const child = await startBroker(setup, setup.brokerConfig, fake ? 2 : 1);
  setup.broker = child;
  return { name: 'broker', port: listen, pid: child.pid!, clientPassword: false, ...(fake ? { pipePort: fakeListen } : {}) };
}

async function setupPaths(opts: Options): Promise<Setup> {
  const cluster = await startPgCluster({ maxConnections: opts.memConns + 100 });
  const setup: Setup = { cluster, dir: benchDir(), endpoints: new Map(), skipped: new Map(), brokerArgs: opts.brokerArgs };
  if (opts.sections.has('pipe')) setup.fakePort = (await startFakeServer(opts.pipeBytes)).port;
  setup.endpoints.set('direct', { name: 'direct', port: cluster.port, clientPassword: true, ...(setup.fakePort ? { pipePort: setup.fakePort } : {}) });
  const starters: Partial<Record<PathName, () => Promise<Endpoint>>> = {
    broker: () => setupBroker(setup),
    haproxy: () => startHaproxy(setup.dir, cluster.port, setup.fakePort),
    pgbouncer: () => startPgbouncer(setup.dir, cluster),
  };
  // Only memory selected: the broker alone is enough.
  const roundsNeeded = FIGURES.some((f) => opts.sections.has(f.section));
  for (const name of roundsNeeded ? opts.paths : opts.paths.filter((p) => p === 'broker')) {
    const start = starters[name];
    if (!start) continue;
    try {
      setup.endpoints.set(name, await start());
    } catch (err) {
      setup.skipped.set(name, (err as Error).message);
    }
  }
  return setup;
}

// ---------- figures ----------

interface Measurement {
  value: number;
  /** Units of work done (transactions, bytes) to charge proxy CPU time to. */
  work: number;
}

interface Figure {
  section: Section;
  label: string;
  unit: string;
  /** Formats proxy CPU seconds per unit of work. */
  cpu: { unit: string; scale: number };
  digits: number;
  /** A latency: the 'vs direct' column shows what the path adds (value - direct's) instead of a ratio. */
  added?: boolean;
  paths?: PathName[];
  measure(ep: Endpoint, setup: Setup, opts: Options): Promise<Measurement>;
}

function clientEnv(ep: Endpoint, setup: Setup): NodeJS.ProcessEnv {
  return cleanEnv({
    PGHOST: '127.0.0.1',
    PGPORT: String(ep.port),
    PGUSER: setup.cluster.users.scram.name,
    PGDATABASE: 'app',
    PGSSLMODE: 'disable',
    PGCONNECT_TIMEOUT: '10',
    ...(ep.clientPassword ? { PGPASSWORD: setup.cluster.users.scram.password } : {}),
  });
}

async function pgbench(ep: Endpoint, setup: Setup, args: string[], duration: number): Promise<Measurement> {
  const { stdout } = await run('pgbench', ['-n', '-S', '-T', String(duration), ...args], {
    env: clientEnv(ep, setup), timeoutMs: (duration + 60) * 1000,
  });
  const tps = /tps = ([\d.]+)/.exec(stdout);
  const done = /actually processed: (\d+)/.exec(stdout);
  const failed = /number of failed transactions: (\d+)/.exec(stdout);
  if (!tps || !done) throw new Error(`cannot parse pgbench output: ${stdout.slice(-300)}`);
  if (failed && Number(failed[1]) > 0) throw new Error(`${failed[1]} failed transactions`);
  return { value: Number(tps[1]), work: Number(done[1]) };
}

/** pgbench -S at one client with every transaction's time logged (-l): the `pct` percentile, µs. */
async function roundTrip(ep: Endpoint, setup: Setup, opts: Options, pct: number): Promise<Measurement> {
  const dir = mkdtempSync(join(setup.dir, 'latency-'));
  try {
    await run('pgbench', ['-n', '-S', '-c', '1', '-t', String(opts.latencyTx), '-l', `--log-prefix=${join(dir, 'tx')}`], { env: clientEnv(ep, setup) });
    // Log lines: client_id transaction_no time_us script_no epoch epoch_us.
    const times = readdirSync(dir).flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n').map((l) => Number(l.split(' ')[2])));
    times.sort((a, b) => a - b);
    return { value: times[Math.min(times.length - 1, Math.floor(pct * times.length))]!, work: times.length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const FIGURES: Figure[] = [
  {
    section: 'tps', label: 'select-only TPS, -c 8 -j 2', unit: 'tps', digits: 0, cpu: { unit: 'µs/tx', scale: 1e6 },
    measure: (ep, s, o) => pgbench(ep, s, ['-c', '8', '-j', '2'], o.duration),
  },
  {
    section: 'tps', label: 'select-only TPS, -c 1', unit: 'tps', digits: 0, cpu: { unit: 'µs/tx', scale: 1e6 },
    measure: (ep, s, o) => pgbench(ep, s, ['-c', '1'], o.duration),
  },
  {
    section: 'latency', label: 'select-only round trip p50, -c 1', unit: 'µs', digits: 0, added: true, cpu: { unit: 'µs/tx', scale: 1e6 },
    measure: (ep, s, o) => roundTrip(ep, s, o, 0.5),
  },
  {
    section: 'latency', label: 'select-only round trip p99, -c 1', unit: 'µs', digits: 0, added: true, cpu: { unit: 'µs/tx', scale: 1e6 },
    measure: (ep, s, o) => roundTrip(ep, s, o, 0.99),
  },
  {
    section: 'churn', label: 'connection churn TPS, -C -c 4', unit: 'tps', digits: 1, cpu: { unit: 'µs/conn', scale: 1e6 },
    measure: (ep, s, o) => pgbench(ep, s, ['-C', '-c', '4', '-j', '2'], o.duration),
  },
  {
    section: 'copy', label: 'COPY TO STDOUT (psql)', unit: 'MB/s', digits: 0, cpu: { unit: 's/GB', scale: 1e9 },
    measure: measureCopy,
  },
  {
    section: 'pipe', label: 'raw pipe, fake server', unit: 'GB/s', digits: 2, cpu: { unit: 's/GB', scale: 1e9 },
    paths: ['direct', 'broker', 'haproxy'],
    measure: async (ep, _s, o) => {
      if (!ep.pipePort) throw new Error('no pipe listener');
      return { value: (await pipeThroughput(ep.pipePort, o.pipeBytes)) / 1e9, work: o.pipeBytes };
    },
  },
];

async function measureCopy(ep: Endpoint, setup: Setup, opts: Options): Promise<Measurement> {
  const rowBytes = 1001; // 1000 x + newline
  const sql = `COPY (SELECT repeat('x',1000) FROM generate_series(1,${opts.copyRows})) TO STDOUT`;
  const devNull = openSync('/dev/null', 'w');
  try {
    const { ms } = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-c', sql], { env: clientEnv(ep, setup), stdoutTo: devNull });
    const bytes = rowBytes * opts.copyRows;
    return { value: bytes / 1e6 / (ms / 1000), work: bytes };
  } finally {
    closeSync(devNull);
  }
}

// ---------- rounds ----------

interface Sample {
  value: number;
  /** Proxy CPU seconds per unit of work. */
  cpuPerWork?: number;
}

interface Entry {
  samples: Sample[];
  failures: number;
  error?: string;
}

type Results = Map<Figure, Map<PathName, Entry>>;

async function sample(fig: Figure, ep: Endpoint, setup: Setup, opts: Options): Promise<Sample> {
  const before = ep.pid ? cpuSeconds(ep.pid) : 0;
  const m = await fig.measure(ep, setup, opts);
  if (!ep.pid) return { value: m.value };
  return { value: m.value, cpuPerWork: (cpuSeconds(ep.pid) - before) / m.work };
}

const rotate = <T>(items: T[], by: number): T[] => items.map((_, i) => items[(i + by) % items.length]!);

async function runRounds(setup: Setup, opts: Options): Promise<Results> {
  const results: Results = new Map();
  const figures = FIGURES.filter((f) => opts.sections.has(f.section));
  const paths = opts.paths.filter((p) => setup.endpoints.has(p));
  for (let round = 0; round < opts.rounds; round++) {
    log(`round ${round + 1}/${opts.rounds}`);
    for (const fig of figures) {
      for (const name of rotate(paths, round)) {
        if (fig.paths && !fig.paths.includes(name)) continue;
        const slot = results.get(fig) ?? new Map();
        results.set(fig, slot);
        const entry: Entry = slot.get(name) ?? { samples: [], failures: 0 };
        slot.set(name, entry);
        try {
          const s = await sample(fig, setup.endpoints.get(name)!, setup, opts);
          entry.samples.push(s);
          log(`  ${fig.label} via ${name}: ${s.value.toFixed(fig.digits)} ${fig.unit}`);
        } catch (err) {
          entry.failures++;
          entry.error ??= (err as Error).message;
          log(`  ${fig.label} via ${name}: FAILED ${(err as Error).message}`);
        }
      }
    }
  }
  return results;
}

// ---------- memory ----------

interface MemoryResult {
  conns: number;
  beforeKb: number;
  afterKb: number;
  closedKb: number;
}

/** A fresh broker, one warm-up connection, then `n` idle authenticated connections held open. */
async function measureMemory(setup: Setup, n: number): Promise<MemoryResult> {
  if (setup.broker) await stopChild(setup.broker); // frees the listen ports
  const child = await startBroker(setup, setup.brokerConfig!, setup.fakePort ? 2 : 1);
  try {
    const port = setup.endpoints.get('broker')!.port;
    const user = setup.cluster.users.scram.name;
    (await rawStartup(port, user, 'app')).socket.destroy(); // load lazy code paths first
    await sleep(500);
    const beforeKb = rssKb(child.pid!);
    const sockets: Socket[] = [];
    for (let i = 0; i < n; i += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => rawStartup(port, user, 'app')));
      sockets.push(...batch.map((b) => b.socket));
    }
    await sleep(1000);
    const afterKb = rssKb(child.pid!);
    for (const s of sockets) s.destroy();
    await sleep(1500);
    return { conns: n, beforeKb, afterKb, closedKb: rssKb(child.pid!) };
  } finally {
    await stopChild(child);
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 8_000);
    child.once('exit', () => (clearTimeout(timer), r()));
    child.kill('SIGTERM');
  });
}

// ---------- report ----------

const log = (line: string): void => void process.stderr.write(`${line}\n`);

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c >= 2 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ')).join('\n');
}

function figureRows(fig: Figure, slot: Map<PathName, Entry>): string[][] {
  const direct = slot.get('direct')?.samples.map((s) => s.value) ?? [];
  const base = direct.length ? median(direct) : NaN;
  const rows: string[][] = [];
  for (const [name, entry] of slot) {
    const values = entry.samples.map((s) => s.value);
    if (!values.length) {
      rows.push([fig.label, name, 'failed', '', '', '', entry.error?.slice(0, 80) ?? '']);
      continue;
    }
    const med = median(values);
    const cpus = entry.samples.map((s) => s.cpuPerWork).filter((c): c is number => c !== undefined);
    rows.push([
      fig.label,
      name,
      `${med.toFixed(fig.digits)} ${fig.unit}`,
      `${Math.min(...values).toFixed(fig.digits)}–${Math.max(...values).toFixed(fig.digits)}`,
      !Number.isFinite(base) ? '' : fig.added ? (name === 'direct' ? '' : `+${(med - base).toFixed(fig.digits)} ${fig.unit}`) : `${(med / base).toFixed(2)}x`,
      cpus.length ? `${(median(cpus) * fig.cpu.scale).toFixed(fig.cpu.scale === 1e9 ? 2 : 1)} ${fig.cpu.unit}` : '-',
      entry.failures ? `${entry.failures} run(s) failed: ${entry.error?.slice(0, 60)}` : '',
    ]);
  }
  return rows;
}

function printReport(results: Results, memory: MemoryResult | undefined, setup: Setup, opts: Options): void {
  const rows: string[][] = [['figure', 'path', 'median', 'range', 'vs direct', 'proxy CPU', '']];
  for (const [fig, slot] of results) rows.push(...figureRows(fig, slot));
  const out: string[] = [];
  if (results.size) out.push('', `PostgreSQL paths, ${opts.rounds} interleaved round(s), pgbench -T ${opts.duration}, median of rounds:`, table(rows));
  if (memory) {
    const per = (memory.afterKb - memory.beforeKb) / memory.conns;
    out.push('', `broker memory: RSS ${memory.beforeKb} kB idle -> ${memory.afterKb} kB with ${memory.conns} idle authenticated connections ` +
      `= ${per.toFixed(1)} kB per connection pair; ${memory.closedKb} kB after closing them`);
  }
  for (const [name, why] of setup.skipped) out.push(`skipped ${name}: ${why}`);
  out.push('', 'notes: proxy CPU = utime+stime of the proxy process (all threads) per unit of work; direct has no proxy.',
    '  pgbouncer (session pooling, auth_type=any) keeps server connections between clients, so its churn figure',
    '  skips the server-side fork and SCRAM exchange that direct, broker and haproxy pay on every connection.',
    `  haproxy runs with its default thread count (one per CPU here: ${availableParallelism()}); the broker is one Node process.`);
  process.stdout.write(out.join('\n') + '\n');
}

function machineInfo(binDir: string): string {
  const cpu = cpus()[0]?.model ?? 'unknown';
  return [
    `machine: ${availableParallelism()} CPUs (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}`,
    `node ${process.version}; ${firstLine(join(binDir, 'postgres'), ['--version'])}; ${firstLine('pgbench', ['--version'])}`,
    `${firstLine('haproxy', ['-v'])}; ${firstLine('pgbouncer', ['--version'])}`,
    // Other work on the machine skews every figure: show it.
    `load average: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  ].join('\n');
}

// ---------- main ----------

function installCleanup(setup: { cluster?: PgCluster; dir?: string }): void {
  const cleanup = (): void => {
    for (const c of children) c.kill('SIGKILL');
    if (setup.dir) rmSync(setup.dir, { recursive: true, force: true });
  };
  process.on('exit', cleanup); // the harness stops the cluster in its own exit hook
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
}

async function main(): Promise<void> {
  let opts: Options;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const state: { cluster?: PgCluster; dir?: string } = {};
  installCleanup(state);
  log(machineInfo(await pgBinDir()));
  log(`sections: ${[...opts.sections].join(', ')}; paths: ${opts.paths.join(', ')}; rounds ${opts.rounds}; pgbench -T ${opts.duration}`);

  const setup = await setupPaths(opts);
  Object.assign(state, { cluster: setup.cluster, dir: setup.dir });
  for (const [name, why] of setup.skipped) log(`skipping ${name}: ${why}`);
  if (opts.sections.has('tps') || opts.sections.has('latency') || opts.sections.has('churn')) {
    await run('pgbench', ['-i', '-s', '1', '-q'], { env: clientEnv(setup.endpoints.get('direct')!, setup) });
  }

  const results = await runRounds(setup, opts);
  let memory: MemoryResult | undefined;
  if (opts.sections.has('memory') && setup.endpoints.has('broker')) {
    log(`memory: ${opts.memConns} idle connections through a fresh broker`);
    memory = await measureMemory(setup, opts.memConns).catch((err: Error) => {
      log(`memory: FAILED ${err.message}`);
      return undefined;
    });
  }
  printReport(results, memory, setup, opts);
  process.stdout.write(`\n${machineInfo(await pgBinDir())}\n`);

  for (const c of [...children]) await stopChild(c);
  await setup.cluster.stop();
  rmSync(setup.dir, { recursive: true, force: true });
  process.exit(0); // the fake-server worker and any lingering sockets must not keep us alive
}

if (isMainThread) {
  main().catch((err: Error) => {
    process.stderr.write(`pg-bench: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });
} else {
  runFakeServer(workerData as FakeServerData);
}
