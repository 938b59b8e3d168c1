// The real `secretless-desktop` process against hostile or unlucky input: literal secrets
// that YAML reads as syntax, a merge-key bomb sent by reload, and a disk too full for the
// control file. What a user sees: the exit code, the messages, the audit file, and
// whether psql-style clients keep working.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { clientEnv, run } from '../fixtures/run.js';
import { freePort } from '../fixtures/free-port.js';
import { mountTmpfs } from '../fixtures/tmpfs.js';
import { waitFor } from '../fixtures/wait-for.js';
import { pgServiceYaml, rawYaml } from '../fixtures/yaml.js';

const CLI = join(process.cwd(), 'bin', 'secretless-desktop.js');
const SECRET = 'S3cretPw-hostile';
/** Unquoted literals that YAML reads as a tag, an alias, a block scalar or a sequence. */
const LITERALS = [`!${SECRET}`, `!!${SECRET}`, `*${SECRET}`, `|${SECRET}`, `>${SECRET}`, `- ${SECRET}`];
let cluster: PgCluster;
let dir: string;

before(async () => {
  cluster = await startPgCluster();
  dir = mkdtempSync(join(tmpdir(), 'sl-hostile-'));
});
after(async () => {
  await cluster?.stop();
});

/** A config with one pg service `a`; the password is YAML text as given (line 10). */
function pgService(port: number, password: string): string {
  return `version: "2"\nservices:\n${pgServiceYaml('a', { listenOn: `tcp://127.0.0.1:${port}`, targetPort: cluster.port, password: rawYaml(password) })}`;
}

/** A large mapping merged into many services: quadratic copying, without the budget minutes of it. */
function mergeBomb(port: number): string {
  const keys = Array.from({ length: 3000 }, (_, i) => `    k${i}: 1\n`).join('');
  const merges = Array.from({ length: 2000 }, (_, i) => `  s${i}: {<<: *d}\n`).join('');
  return pgService(port, '{from: env, get: PW}').replace('services:\n', `services:\n  defaults: &d\n${keys}`) + merges;
}

interface Serve {
  child: ChildProcess;
  output(): string;
  waitFor(re: RegExp, from?: number): Promise<void>;
  exited: Promise<number | null>;
}

function serve(args: string[], env: NodeJS.ProcessEnv = {}): Serve {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { env: { ...clientEnv(), XDG_STATE_HOME: join(dir, 'state'), ...env } });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let closed = false;
  child.on('close', () => (closed = true));
  return {
    child,
    output: () => out,
    exited,
    async waitFor(re, from = 0) {
      await waitFor(() => `${re} in:\n${out}`, () => {
        // The line first, and "exited" only once its output is all read ('close'): a
        // process that prints it and exits at once (a full disk) has still printed it.
        if (re.test(out.slice(from))) return true;
        if (closed) throw new Error(`exited before ${re}:\n${out}`);
        return false;
      }, 120_000);
    },
  };
}

async function currentUser(port: number): Promise<string> {
  const client = new pg.Client({ host: '127.0.0.1', port, database: 'app', user: 'x' });
  await client.connect();
  try {
    return (await client.query('select current_user as u')).rows[0].u;
  } finally {
    await client.end();
  }
}

describe('hostile configs and a full disk, through the real CLI', () => {
  test('check and serve never print a literal password that YAML read as syntax', async () => {
    for (const literal of LITERALS) {
      const cfg = join(dir, 'secret.yml');
      writeFileSync(cfg, pgService(1, literal));
      const checked = await run(process.execPath, [CLI, 'check', '-f', cfg]);
      assert.equal(checked.code, 2, `${literal}: ${checked.stdout}${checked.stderr}`);
      assert.match(checked.stderr, /line 10: services\.a\.credentials/);
      assert.ok(!(checked.stdout + checked.stderr).includes(SECRET), `check printed ${literal}: ${checked.stderr}`);
      const served = await run(process.execPath, [CLI, 'serve', '-f', cfg, '--audit-log', join(dir, 'start.jsonl')], { env: { ...clientEnv(), XDG_STATE_HOME: join(dir, 'state') } });
      assert.equal(served.code, 2);
      assert.ok(!(served.stdout + served.stderr).includes(SECRET), `serve printed ${literal}: ${served.stderr}`);
    }
  });

  test('reload: a secret-bearing mistake and a merge bomb are rejected without the secret, and the broker keeps serving', async () => {
    const port = await freePort();
    const cfg = join(dir, 'reload.yml');
    const auditPath = join(dir, 'reload.jsonl');
    writeFileSync(cfg, pgService(port, '{from: env, get: PW}'));
    const s = serve(['-f', cfg, '--audit-log', auditPath], { PW: cluster.users.scram.password });
    try {
      await s.waitFor(/INFO  ready/);
      for (const literal of LITERALS) {
        const mark = s.output().length;
        writeFileSync(cfg, pgService(port, literal));
        s.child.kill('SIGHUP');
        await s.waitFor(/new config rejected/, mark);
      }
      const mark = s.output().length;
      writeFileSync(cfg, mergeBomb(port));
      s.child.kill('SIGHUP');
      await s.waitFor(/new config rejected.*merge keys \(<<\) copy more than [\d,]+ entries/, mark);
      assert.equal(await currentUser(port), 'scram_user');
      s.child.kill('SIGTERM');
      assert.equal(await s.exited, 0, s.output().slice(-2000));
    } finally {
      s.child.kill('SIGKILL');
    }
    assert.ok(!s.output().includes(SECRET), 'the secret in the log');
    const audit = readFileSync(auditPath, 'utf8');
    assert.equal(audit.split('\n').filter((l) => l.includes('"config.rejected"')).length, LITERALS.length + 1);
    assert.ok(!audit.includes(SECRET), 'the secret in a config.rejected audit record');
  });

  test('serve --ui on a full disk: names the control file, closes its ports, exits 2, and a SIGTERM ends it', async () => {
    const disk = mountTmpfs(256);
    try {
      const [port, uiPort] = [await freePort(), await freePort()];
      const cfg = join(dir, 'ui.yml');
      writeFileSync(cfg, pgService(port, '{from: env, get: PW}'));
      disk.fill();
      const s = serve(['-f', cfg, '--ui', '--ui-port', String(uiPort), '--audit-log', join(dir, 'ui.jsonl')], { XDG_STATE_HOME: disk.path, PW: 'x' });
      await s.waitFor(/control file/);
      s.child.kill('SIGTERM');
      const code = await s.exited;
      assert.ok(code === 2 || (code === null && s.child.signalCode === 'SIGTERM'), `exit ${code}: ${s.output()}`);
      assert.match(s.output(), new RegExp(`cannot write the control file ${disk.path}/secretless-desktop/control\\.json \\(ENOSPC`));
      for (const p of [port, uiPort]) {
        const refused = await new Promise<boolean>((resolve) => {
          const sock = connect(p, '127.0.0.1');
          sock.on('connect', () => (sock.destroy(), resolve(false)));
          sock.on('error', () => resolve(true));
        });
        assert.ok(refused, `port ${p} still open`);
      }
    } finally {
      disk.unmount();
    }
  });

  test('serve --ui on a full disk, left alone, exits 2 by itself', async () => {
    const disk = mountTmpfs(256);
    try {
      const cfg = join(dir, 'ui2.yml');
      writeFileSync(cfg, pgService(await freePort(), '{from: env, get: PW}'));
      disk.fill();
      const s = serve(['-f', cfg, '--ui', '--audit-log', join(dir, 'ui2.jsonl')], { XDG_STATE_HOME: disk.path, PW: 'x' });
      assert.equal(await s.exited, 2, s.output());
      assert.match(s.output(), /control\.json \(ENOSPC: the disk is full\)/);
    } finally {
      disk.unmount();
    }
  });
});
