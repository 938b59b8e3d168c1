// Waking from sleep with SSH bastion connections pooled, through the real desktop app
// (test/electron-harness): a pg target behind a real sshd bastion, psql through the
// address the tray copies. After a sleep the pooled bastion connection is dead though
// nobody has noticed yet; `resume` must drop it, and the next connection logs in to the
// bastion again, both when the app saw the sleep coming (suspend: broker stopped and
// started again) and when it did not (resume only: the same broker drops its pool).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { AuditRecord } from '../../broker/audit/types.js';
import { closeHarness, launchApp, type DesktopApp } from '../electron-harness/harness.js';
import { freePort } from '../fixtures/free-port.js';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { clientEnv, run } from '../fixtures/run.js';
import { makeKey, startSshd, type KeyFiles, type Sshd } from '../fixtures/sshd.js';
import { configYaml } from '../fixtures/yaml.js';

let sshd: Sshd;
let cluster: PgCluster;
let desktop: DesktopApp;
let bastionKey: KeyFiles;
const clientOutput: string[] = [];

before(async () => {
  [sshd, cluster] = await Promise.all([startSshd(), startPgCluster()]);
  const home = mkdtempSync(join(tmpdir(), 'sl-bastion-resume-'));
  bastionKey = makeKey(home, 'bastion', 'ed25519');
  sshd.authorize(bastionKey.publicLine);
  const passwordFile = join(home, 'db-password');
  writeFileSync(passwordFile, cluster.users.scram.password, { mode: 0o600 });
  const dir = join(home, '.config', 'secretless-desktop');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'secretless.yml'),
    configYaml({
      db: {
        connector: 'pg',
        listenOn: `tcp://127.0.0.1:${await freePort()}`,
        credentials: {
          host: '127.0.0.1',
          port: cluster.port,
          username: cluster.users.scram.name,
          password: { from: 'file', get: passwordFile },
          sslmode: 'disable',
          sshTunnelAddress: `127.0.0.1:${sshd.port}`,
          sshTunnelUser: sshd.user,
          sshTunnelPrivateKey: { from: 'file', get: bastionKey.path },
          sshTunnelHostKey: sshd.hostKeyFingerprint,
        },
      },
    }),
  );
  desktop = await launchApp({ home });
});
after(async () => {
  await desktop?.close();
  await closeHarness();
  await Promise.all([sshd?.stop(), cluster?.stop()]);
});

/** psql through the address the tray's "Copy URI" puts on the clipboard. */
async function query(sql: string): Promise<string> {
  // A fixed port, as users configure: the address copied before a sleep still works after it.
  await desktop.until('db running', () => /1 of 1 running/.test(desktop.tray.tooltip()) && desktop.tray.labels().includes('db: running'));
  desktop.tray.click('db', 'Copy URI');
  const r = await run('psql', ['-X', '-Atc', sql, desktop.state.clipboard], { env: clientEnv(), onSpawn: (c) => c.stdin?.on('error', () => {}) });
  clientOutput.push(r.stdout, r.stderr);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

const audit = async (): Promise<AuditRecord[]> =>
  (await desktop.page()).evaluate(() =>
    (window as unknown as { secretless: { recentAudit(q: unknown): Promise<AuditRecord[]> } }).secretless.recentAudit({ service: 'db', limit: 100 }),
  );
/** The audit feed's logins to the database (through the bastion: the only way there) since `since`. */
const tunnelledLogins = async (since: number) =>
  (await audit()).filter((r) => r.type === 'connection.authenticated' && r.target === `127.0.0.1:${cluster.port}` && Date.parse(r.time) >= since);

test('connections through the tray address share one pooled bastion login', async () => {
  assert.equal(await query('select current_user'), cluster.users.scram.name);
  assert.equal(await query('select 2'), '2');
  assert.equal(sshd.logins(), 1, 'one bastion login for both');
  assert.equal(sshd.sessions().length, 1, 'the bastion connection stays open, pooled');
});

test('resume without a suspend (a sleep the app did not see): the same broker drops the pooled bastion connection; the next psql logs in again', async () => {
  const broker = desktop.brokers()[0]!;
  const [session] = sshd.sessions();
  desktop.power('resume');
  // What the bastion's admin sees: the broker ended its connection.
  await desktop.until('the bastion connection closed', () => !sshd.sessions().includes(session!));
  assert.equal(sshd.sessions().length, 0);
  const woke = Date.now();
  assert.equal(await query('select 3'), '3');
  assert.equal(sshd.logins(), 2, 'a fresh bastion login after the wake-up');
  assert.equal(sshd.sessions().length, 1);
  assert.equal(desktop.brokers().length, 1, 'the same broker, not restarted');
  assert.equal(broker.pid, broker.child.pid, 'the broker is still running');
  // The audit feed the window shows records the connection through the bastion.
  await desktop.until('the audit feed records the connection', async () => (await tunnelledLogins(woke)).length === 1);
  const log = readFileSync(join(desktop.stateDir, 'logs', 'broker.log'), 'utf8');
  assert.match(log, /the machine woke up: refreshing identity sessions and SSH bastion connections/);
  assert.match(log, /ssh bastion connection closed; the next connection re-establishes it/);
});

test('suspend then resume: the broker stops (its bastion connection with it) and the new broker logs in to the bastion again', async () => {
  const broker = desktop.brokers().at(-1)!;
  desktop.power('suspend');
  assert.equal(await broker.exited, 0, 'the broker stopped cleanly for the sleep');
  await desktop.until('the bastion connection closed', () => sshd.sessions().length === 0);
  await desktop.until('the tray shows the broker stopped', () => /broker stopped/.test(desktop.tray.tooltip()));
  const woke = Date.now();
  desktop.power('resume');
  assert.equal(await query('select 4'), '4');
  assert.equal(desktop.brokers().length, 2, 'a new broker after the sleep');
  assert.equal(sshd.logins(), 3, 'it logged in to the bastion again');
  await desktop.until('the audit feed records the connection', async () => (await tunnelledLogins(woke)).length === 1);
});

test('the database password and the bastion key appear in no log and no client output', () => {
  const logs = ['broker.log', 'main.log'].map((f) => readFileSync(join(desktop.stateDir, 'logs', f), 'utf8')).join('');
  const everything = logs + clientOutput.join('');
  assert.ok(!everything.includes(cluster.users.scram.password), 'password leaked');
  for (const line of bastionKey.privateText.split('\n').filter((l) => l && !l.startsWith('-----'))) assert.ok(!everything.includes(line), 'key leaked');
});
