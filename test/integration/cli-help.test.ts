// Issue 12, point 10: the CLI as a new user meets it. `--version`; `COMMAND --help` for
// every command with its own options; `help` naming every option; a bad option is one
// plain line plus the command's help (not node's parseArgs advice); a misspelt command
// gets a suggestion; `audit` reads the audit log file when no broker runs, and says
// when --service names a target it has never seen. The real CLI, spawned.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createAuditLog } from '../../broker/audit/audit-log.js';
import { COMMAND_HELP } from '../../broker/cli-help.js';
import { clientEnv, run } from '../fixtures/run.js';

const CLI = join(process.cwd(), 'bin', 'secretless-desktop.js');
let dir: string;
const env = () => ({ ...clientEnv(), XDG_STATE_HOME: join(dir, 'state'), XDG_CONFIG_HOME: join(dir, 'config') });
const cli = (...args: string[]) => run(process.execPath, [CLI, ...args], { env: env(), timeoutMs: 30_000 });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sl-cli-help-'));
  mkdirSync(join(dir, 'state', 'secretless-desktop'), { recursive: true });
  // An audit log as a broker that ran earlier left it.
  const log = createAuditLog({ path: join(dir, 'state', 'secretless-desktop', 'audit.jsonl') });
  log.record({ type: 'service.started', service: 'app-db', address: 'tcp://127.0.0.1:15432' });
  log.record({ type: 'connection.opened', service: 'app-db', connectionId: 'c1', client: { transport: 'tcp', address: '127.0.0.1', port: 50000 } });
  log.record({ type: 'connection.failed', service: 'app-db', connectionId: 'c1', code: 'target_rejected_credentials', reason: 'password authentication failed for user "app"' });
  log.record({ type: 'service.started', service: 'shop', address: 'tcp://127.0.0.1:13306' });
  await log.close();
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('--version prints the package version', async () => {
  const r = await cli('--version');
  const version = (JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as { version: string }).version;
  assert.equal(r.stdout, `secretless-desktop ${version}\n`);
  assert.equal(r.code, 0);
});

test('every command has --help with its options; help lists every option', async () => {
  const help = await cli('help');
  for (const option of ['--json', '--no-browser', '--follow', '--new-token', '--remove-keychain-items', '--audit-log', '--ui-port', '--version']) {
    assert.ok(help.stdout.includes(option), `help names ${option}`);
  }
  for (const command of ['serve', 'check', 'login', 'logout', 'status', 'start', 'stop', 'test', 'delete', 'open', 'audit']) {
    assert.ok(help.stdout.includes(`  ${command}`), `help lists ${command}`);
    const r = await cli(command, '--help');
    assert.equal(r.code, 0, `${command} --help: ${r.stderr}`);
    assert.equal(r.stdout, COMMAND_HELP[command]);
    assert.match(r.stdout, new RegExp(`^Usage: secretless-desktop ${command}\\b`));
  }
  assert.match((await cli('audit', '--help')).stdout, /--follow[\s\S]*--service NAME[\s\S]*--outcome ok\|failed[\s\S]*--limit N[\s\S]*--json/);
});

test("a bad option is one plain line and the command's help; a misspelt command gets a suggestion", async () => {
  const r = await cli('status', '--jsn');
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `secretless-desktop status: unknown option '--jsn'\n\n${COMMAND_HELP.status}`);
  assert.doesNotMatch(r.stderr, /To specify a positional argument/);
  const serve = await cli('serve', '--wtach');
  assert.equal(serve.code, 2);
  assert.match(serve.stderr, /^secretless-desktop serve: unknown option '--wtach'\n\nUsage: secretless-desktop serve/);
  const typo = await cli('stauts');
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /^unknown command 'stauts' \(did you mean 'status'\?\)/);
});

test('audit without a running broker reads the audit log file', async () => {
  const all = await cli('audit');
  assert.equal(all.code, 0, all.stderr);
  const lines = all.stdout.trim().split('\n');
  assert.equal(lines.length, 4);
  assert.match(lines[0]!, /service\.started\s+app-db/);
  const failed = await cli('audit', '--outcome', 'failed', '--service', 'app-db');
  assert.match(failed.stdout, /^\S+\s+connection\.failed\s+app-db\s+connectionId=c1 code=target_rejected_credentials reason=password authentication failed/);
  assert.equal(failed.stdout.trim().split('\n').length, 1);
  const json = await cli('audit', '--json', '--limit', '1');
  assert.equal((JSON.parse(json.stdout) as { service: string }).service, 'shop');
  const follow = await cli('audit', '--follow');
  assert.equal(follow.code, 1);
  assert.match(follow.stderr, /no running broker found/);
});

test('audit --service with a name it never saw says so, with a suggestion', async () => {
  const r = await cli('audit', '--service', 'nosuch');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--service: no records of a target named 'nosuch' in \S+audit\.jsonl\n$/);
  const typo = await cli('audit', '--service', 'app_db');
  assert.match(typo.stderr, /\(did you mean 'app-db'\?\)/);
});
