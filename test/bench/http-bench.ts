// HTTP benchmark: requests/s and latency through the broker's http connector (a reverse
// proxy adding a bearer token) against the same requests sent directly and through nginx
// as a plain reverse proxy that also sets an Authorization header (its own nginx process,
// so each proxy's CPU per request is measured from /proc). The upstream is nginx
// answering a small static body. wrk drives every path; rounds are interleaved in
// rotating order so drift spreads over every path alike. A script that prints figures,
// never a test with timed assertions.
//
//   node dist/test/bench/http-bench.js [--quick] [--rounds N] [--duration S]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, portOpen } from '../fixtures/free-port.js';
import { waitFor } from '../fixtures/wait-for.js';
import { cpuSeconds } from './bench-kit.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PATHS = ['direct', 'broker', 'nginx'] as const;
type PathName = (typeof PATHS)[number];

interface Run {
  rps: number;
  p50us: number;
  p99us: number;
  /** CPU seconds of the proxy process (broker, or the proxying nginx) per request. */
  cpuPerReq?: number;
  /** Share of the machine's CPU time the hypervisor gave to others during the run (/proc/stat steal). */
  steal?: number;
}

const MODES = [
  { key: 'ka', label: 'keep-alive, 16 connections', args: ['-t', '2', '-c', '16'] },
  { key: 'close', label: 'new connection per request, 8 clients', args: ['-t', '2', '-c', '8', '-H', 'Connection: close'] },
  { key: 'one', label: 'keep-alive, 1 connection (latency)', args: ['-t', '1', '-c', '1'] },
] as const;

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, rounds: { type: 'string' }, duration: { type: 'string' } } });
  // Five rounds: one connection's rows swing with the host's scheduling (one slow round per run is common).
  const rounds = Number(values.rounds ?? (values.quick ? 1 : 5));
  const duration = Number(values.duration ?? (values.quick ? 3 : 8));
  if (spawnSync('wrk', ['--version']).error) throw new Error('wrk is missing: apt-get install wrk');
  const dir = mkdtempSync(join(tmpdir(), 'sd-http-bench-'));
  try {
    const { staticPort, proxyPort, proxyPid } = await startNginx(dir);
    const { port: brokerPort, pid: brokerPid } = await startBroker(dir, staticPort);
    const pids: Partial<Record<PathName, number>> = { broker: brokerPid, nginx: proxyPid };
    const urls: Record<PathName, string> = {
      direct: `http://127.0.0.1:${staticPort}/ok`,
      broker: `http://127.0.0.1:${brokerPort}/ok`,
      nginx: `http://127.0.0.1:${proxyPort}/ok`,
    };
    // Warm-up: pools, JIT.
    for (const p of PATHS) wrk(urls[p], ['-t', '1', '-c', '4'], 1);
    const results = new Map<string, Run[]>();
    for (let round = 0; round < rounds; round++) {
      for (const mode of MODES) {
        const order = PATHS.map((_, i) => PATHS[(i + round) % PATHS.length]!);
        for (const p of order) {
          const r = wrk(urls[p], [...mode.args], duration, pids[p]);
          const key = `${mode.key}/${p}`;
          results.set(key, [...(results.get(key) ?? []), r]);
          process.stderr.write(`round ${round + 1} ${mode.key} ${p}: ${Math.round(r.rps)} req/s p50 ${r.p50us} µs p99 ${r.p99us} µs, ${Math.round(r.steal * 100)}% of CPU time stolen by the host\n`);
        }
      }
    }
    report(results, rounds, duration);
  } finally {
    for (const c of children) c.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function report(results: Map<string, Run[]>, rounds: number, duration: number): void {
  const m = (key: string, f: 'rps' | 'p50us' | 'p99us') => median(results.get(key)!.map((r) => r[f]));
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  // A virtual machine's neighbours take CPU time from its rounds unevenly: said, so a slow round can be read for what it is.
  const steals = [...results.values()].flat().map((r) => r.steal ?? 0);
  const stolen = `host steal ${Math.round(median(steals) * 100)}% of CPU time (median of the runs; the highest ${Math.round(Math.max(...steals) * 100)}%)`;
  console.log(`\nHTTP benchmark: ${rounds} round(s) of ${duration} s per path and mode, medians; ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${load}; ${stolen}\n`);
  console.log('| figure | direct | broker | nginx (reverse proxy) |');
  console.log('| --- | --- | --- | --- |');
  for (const mode of MODES) {
    const d = m(`${mode.key}/direct`, 'rps');
    const b = m(`${mode.key}/broker`, 'rps');
    const n = m(`${mode.key}/nginx`, 'rps');
    const cpu = (p: PathName) => ` (${fmt(median(results.get(`${mode.key}/${p}`)!.map((r) => r.cpuPerReq ?? NaN)) * 1e6)} µs CPU/req)`;
    console.log(`| ${mode.label}: requests/s | ${fmt(d)} | ${fmt(b)} **${(b / d).toFixed(2)}x** (${(b / n).toFixed(2)}x of nginx)${cpu('broker')} | ${fmt(n)} ${(n / d).toFixed(2)}x${cpu('nginx')} |`);
  }
  for (const mode of MODES) {
    const d50 = m(`${mode.key}/direct`, 'p50us');
    const d99 = m(`${mode.key}/direct`, 'p99us');
    const b50 = m(`${mode.key}/broker`, 'p50us') - d50;
    const n50 = m(`${mode.key}/nginx`, 'p50us') - d50;
    const b99 = m(`${mode.key}/broker`, 'p99us') - d99;
    const n99 = m(`${mode.key}/nginx`, 'p99us') - d99;
    console.log(`| ${mode.label}: added latency p50 / p99 | (${d50} / ${d99} µs) | +${b50} / +${b99} µs **${n50 > 0 ? (b50 / n50).toFixed(2) : '-'}x of nginx's p50** | +${n50} / +${n99} µs |`);
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US').replace(/,/g, ' ');

/** The machine's CPU ticks: all, and those the hypervisor ran someone else in (steal). */
function cpuTicks(): { total: number; steal: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { total: f.slice(0, 8).reduce((a, b) => a + b, 0), steal: f[7] ?? 0 };
}

function wrk(url: string, args: string[], seconds: number, pid?: number): Run & { steal: number } {
  const cpu0 = pid ? cpuSeconds(pid) : 0;
  const ticks0 = cpuTicks();
  const out = spawnSync('wrk', [...args, '-d', `${seconds}s`, '--latency', url], { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  if (out.status !== 0) throw new Error(`wrk failed: ${out.stderr || out.stdout}`);
  const text = out.stdout;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  if (errors) throw new Error(`wrk saw ${errors[1]} error responses from ${url}:\n${text}`);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1]);
  const ticks1 = cpuTicks();
  const steal = (ticks1.steal - ticks0.steal) / Math.max(1, ticks1.total - ticks0.total);
  return { rps, p50us: micros(text, '50%'), p99us: micros(text, '99%'), steal, ...(pid ? { cpuPerReq: (cpuSeconds(pid) - cpu0) / requests } : {}) };
}

function micros(text: string, pct: string): number {
  const m = new RegExp(`^\\s+${pct}\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(text);
  if (!m) throw new Error(`no ${pct} latency in wrk output:\n${text}`);
  const v = Number(m[1]);
  return Math.round(m[2] === 'us' ? v : m[2] === 'ms' ? v * 1000 : v * 1e6);
}

/** nginx with one server block, in its own process (so its CPU time is its own), under dir/name. */
async function nginxProcess(dir: string, name: string, http: string): Promise<number> {
  const home = join(dir, name);
  for (const t of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) spawnSync('mkdir', ['-p', join(home, `tmp-${t}`)]);
  const conf = `
daemon off;
master_process off;
worker_processes 1;
error_log ${join(home, 'error.log')} warn;
pid ${join(home, 'nginx.pid')};
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(home, 'tmp-body')};
  proxy_temp_path ${join(home, 'tmp-proxy')};
  fastcgi_temp_path ${join(home, 'tmp-fastcgi')};
  uwsgi_temp_path ${join(home, 'tmp-uwsgi')};
  scgi_temp_path ${join(home, 'tmp-scgi')};
  keepalive_requests 1000000;
  ${http}
}
`;
  const confPath = join(home, 'nginx.conf');
  writeFileSync(confPath, conf);
  const child = spawn('/usr/sbin/nginx', ['-p', home, '-c', confPath, '-e', join(home, 'error.log')], { stdio: 'ignore' });
  children.add(child);
  return child.pid!;
}

/** The upstream (a static answer) and nginx as a reverse proxy in front of it, as two processes. */
async function startNginx(dir: string): Promise<{ staticPort: number; proxyPort: number; proxyPid: number }> {
  const [staticPort, proxyPort] = [await freePort(), await freePort()];
  await nginxProcess(dir, 'upstream', `server { listen 127.0.0.1:${staticPort}; location / { default_type text/plain; return 200 "ok\\n"; } }`);
  const proxyPid = await nginxProcess(
    dir,
    'proxy',
    `upstream app { server 127.0.0.1:${staticPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${proxyPort};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer bench-token";
    }
  }`,
  );
  await Promise.all([listening(staticPort), listening(proxyPort)]);
  return { staticPort, proxyPort, proxyPid };
}

async function startBroker(dir: string, upstreamPort: number): Promise<{ port: number; pid: number }> {
  const port = await freePort();
  const cfg = join(dir, 'secretless.yml');
  writeFileSync(
    cfg,
    `version: "2"\nservices:\n  api:\n    connector: http\n    listenOn: tcp://127.0.0.1:${port}\n    credentials:\n      token: { from: env, get: SD_BENCH_TOKEN }\n    config: { upstream: "http://127.0.0.1:${upstreamPort}" }\n`,
  );
  const log = openSync(join(dir, 'broker.log'), 'a');
  // The launcher itself (not `node launcher`), so its V8 flags apply as for users.
  const child = spawn(join(ROOT, 'bin', 'secretless-desktop.js'), ['serve', '-f', cfg, '--audit-log', join(dir, 'audit.jsonl')], {
    env: { PATH: process.env.PATH ?? '', HOME: dir, SD_BENCH_TOKEN: 'bench-token', XDG_STATE_HOME: join(dir, 'state'), XDG_CONFIG_HOME: join(dir, 'config') },
    stdio: ['ignore', log, log],
  });
  children.add(child);
  await listening(port);
  return { port, pid: child.pid! };
}

const listening = (port: number) => waitFor(`a listener on port ${port}`, () => portOpen(port));

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
