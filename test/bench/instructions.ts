// Instruction counts of the broker's hot paths, for before/after comparisons on a
// machine too loaded for wall-clock figures: `serve` runs under valgrind's callgrind,
// instrumentation starts once it is ready and warmed up, then each workload runs through it and the
// counters are dumped: logins (pgbench opening one connection per transaction: SCRAM
// login, a `select 1`, close) and the splice (psql copying rows out). Prints
// instructions per login and per spliced MiB. A script, never a test.
//
//   node dist/test/bench/instructions.js [--broker DIR]... [--logins N] [--copy-mib M]
//
// Each --broker is a built checkout (its bin/secretless-desktop.js is run); default: this one.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../fixtures/free-port.js';
import { pgBinDir, startPgCluster } from '../fixtures/pg-cluster.js';
import { clientEnv } from '../fixtures/run.js';
import { waitFor } from '../fixtures/wait-for.js';

const { values } = parseArgs({
  options: { broker: { type: 'string', multiple: true }, logins: { type: 'string', default: '200' }, 'copy-mib': { type: 'string', default: '64' } },
});
const brokers = (values.broker ?? [process.cwd()]).map((d) => resolve(d));
const logins = Number(values.logins);
const copyMib = Number(values['copy-mib']);

/** Total instructions (Ir) in a callgrind dump. */
function totalIr(file: string): number {
  const m = /^(?:summary|totals):\s+(\d+)/m.exec(readFileSync(file, 'utf8'));
  if (!m) throw new Error(`no totals in ${file}`);
  return Number(m[1]);
}

const cluster = await startPgCluster();
const bin = await pgBinDir();
const dir = mkdtempSync(join(tmpdir(), 'sd-instr-'));
writeFileSync(join(dir, 'select1.sql'), 'select 1;\n');
const results: { broker: string; perLogin: number; perMib: number }[] = [];
try {
  for (const broker of brokers) {
    const port = await freePort();
    const cfg = join(dir, 'secretless.yml');
    writeFileSync(
      cfg,
      `version: "2"\nservices:\n  db:\n    connector: pg\n    listenOn: tcp://127.0.0.1:${port}\n    credentials:\n      host: 127.0.0.1\n      port: ${cluster.port}\n      username: ${cluster.users.scram.name}\n      password: { from: env, get: PW }\n      sslmode: disable\n`,
    );
    const out = join(dir, `callgrind.${results.length}`);
    // Not instrumented until the workload starts: startup under full instrumentation takes minutes.
    const child = spawn('valgrind', ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${out}`, process.execPath, join(broker, 'bin', 'secretless-desktop.js'), 'serve', '-f', cfg, '--audit-log', join(dir, 'audit.jsonl')], {
      env: { ...clientEnv(), PW: cluster.users.scram.password, XDG_STATE_HOME: join(dir, 'state'), XDG_CONFIG_HOME: join(dir, 'config') },
    });
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    await waitFor(() => `serve under valgrind to be ready:\n${log}`, () => /ready/.test(log), 600_000);
    const control = (...args: string[]) => spawnSync('callgrind_control', [...args, String(child.pid)], { encoding: 'utf8' });
    const env = { ...clientEnv(), PGPASSWORD: 'ignored', PGSSLMODE: 'disable' };
    // Warm-up (the JIT compiles the paths), then zero the counters.
    spawnSync(join(bin, 'pgbench'), ['-n', '-C', '-t', '20', '-f', join(dir, 'select1.sql'), '-h', '127.0.0.1', '-p', String(port), '-U', 'x', 'app'], { env });
    control('-i', 'on');
    control('-z');
    const pgb = spawnSync(join(bin, 'pgbench'), ['-n', '-C', '-t', String(logins), '-f', join(dir, 'select1.sql'), '-h', '127.0.0.1', '-p', String(port), '-U', 'x', 'app'], { env, encoding: 'utf8' });
    if (pgb.status !== 0) throw new Error(`pgbench failed: ${pgb.stderr}`);
    control('-d');
    control('-z');
    // Rows of 1 KiB: copyMib MiB through the splice.
    const copy = spawnSync(join(bin, 'psql'), ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', 'x', '-d', 'app', '-c', `copy (select repeat('x', 1023) from generate_series(1, ${copyMib * 1024})) to stdout`], { env, maxBuffer: 1 << 30 });
    if (copy.status !== 0) throw new Error(`psql failed: ${copy.stderr}`);
    control('-d');
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    const dumps = readdirSync(dir)
      .filter((f) => f.startsWith(`callgrind.${results.length}.`))
      .sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
    const [loginDump, copyDump] = dumps.map((f) => totalIr(join(dir, f)));
    results.push({ broker, perLogin: Math.round(loginDump! / logins), perMib: Math.round(copyDump! / copyMib) });
  }
} finally {
  await cluster.stop();
}
process.stdout.write(`instructions (callgrind Ir), ${logins} logins and ${copyMib} MiB copied per build\n`);
for (const r of results) process.stdout.write(`${r.broker}\n  per login: ${r.perLogin.toLocaleString('en')}\n  per MiB spliced: ${r.perMib.toLocaleString('en')}\n`);
if (results.length === 2) {
  const [a, b] = results as [(typeof results)[0], (typeof results)[0]];
  process.stdout.write(`ratio (second / first): login ${(b.perLogin / a.perLogin).toFixed(3)}, splice ${(b.perMib / a.perMib).toFixed(3)}\n`);
}
