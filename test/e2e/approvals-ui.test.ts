// Approval prompts in a real browser: the real `serve --ui` and PostgreSQL, the built
// renderer in Debian's Chromium. psql connects to a target with `approval: ask` and waits;
// the page shows the prompt with psql's executable, pid and command line; "Allow once"
// lets psql run, "Deny" gives psql the broker's message; the Lock button makes a target
// with `approval: never` ask too, Unlock ends it. Screenshots in test-output/.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { startPsql, type RunResult } from '../fixtures/run.js';
import { configYaml, type ServiceYaml } from '../fixtures/yaml.js';
import { launchChromium, startUiBroker, type UiBroker } from '../fixtures/ui-broker.js';

const OUT = join(process.cwd(), 'test-output');
let cluster: PgCluster;
let dir: string;
let broker: UiBroker;
let browser: Browser;
let page: Page;
const children = new Set<ChildProcess>();
const outputs: string[] = [];

before(async () => {
  cluster = await startPgCluster();
  dir = mkdtempSync(join(tmpdir(), 'sd-approvals-ui-'));
  const configPath = join(dir, 'secretless.yml');
  const pg = (approval?: 'ask'): ServiceYaml => ({
    connector: 'pg',
    approval,
    credentials: { host: '127.0.0.1', port: cluster.port, username: cluster.users.scram.name, password: { from: 'env', get: 'APP_DB_PW' }, sslmode: 'disable' },
  });
  writeFileSync(configPath, configYaml({ billing: pg('ask'), scratch: pg() }));
  broker = await startUiBroker({ configPath, dir, env: { APP_DB_PW: cluster.users.scram.password } });
  browser = await launchChromium();
  page = await (await browser.newContext({ colorScheme: 'light', viewport: { width: 1200, height: 900 } })).newPage();
  await page.goto(broker.pageUrl);
  await page.getByRole('heading', { name: 'Targets' }).waitFor();
  mkdirSync(OUT, { recursive: true });
  for (const name of ['billing', 'scratch']) await portOf(name);
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await browser?.close().catch(() => {});
  await broker?.stop();
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const ports = new Map<string, number>();

/** The port the page shows for a target (read once, while it is listening and unused). */
async function portOf(name: string): Promise<number> {
  if (!ports.has(name)) {
    const row = page.locator(`li.target[data-target="${name}"]`);
    await row.getByTestId('state').filter({ hasText: 'Listening' }).waitFor();
    ports.set(name, Number(/:(\d+)$/.exec((await row.getByTestId('address').textContent()) ?? '')![1]));
  }
  return ports.get(name)!;
}

/** psql in the background; its output is kept for the secret search. */
function psql(port: number, sql: string): { child: ChildProcess; done: Promise<RunResult> } {
  const client = startPsql(port, sql);
  children.add(client.child);
  const done = client.done.then((r) => {
    children.delete(client.child);
    outputs.push(r.stdout, r.stderr);
    return r;
  });
  return { child: client.child, done };
}

const promptFor = (pid: number) => page.locator('article.prompt').filter({ hasText: `(pid ${pid})` });

test('psql waits; the page shows the prompt with its executable and pid; Allow once lets it run', async () => {
  const port = await portOf('billing');
  const client = psql(port, 'select 40 + 2');
  const prompt = promptFor(client.child.pid!);
  await prompt.waitFor();
  assert.equal(client.child.exitCode, null, 'psql is still waiting');
  assert.match((await prompt.getByRole('heading').textContent()) ?? '', /^psql wants to use billing/);
  assert.match((await prompt.locator('dd.exe').textContent()) ?? '', new RegExp(`/psql \\(pid ${client.child.pid}\\)$`));
  assert.ok(((await prompt.locator('code').first().textContent()) ?? '').includes('select 40 + 2'));
  await page.screenshot({ path: join(OUT, 'approval-prompt.png'), fullPage: true });
  await prompt.getByRole('button', { name: 'Allow once' }).click();
  const r = await client.done;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '42');
  await prompt.waitFor({ state: 'detached' });
});

test('Deny: psql prints the broker\'s message', async () => {
  const port = await portOf('billing');
  const client = psql(port, 'select 1');
  const prompt = promptFor(client.child.pid!);
  await prompt.getByRole('button', { name: 'Deny' }).click();
  const r = await client.done;
  assert.equal(r.code, 2);
  assert.match(r.stderr, /FATAL: +the broker's user did not allow this program \(\S+\/psql, pid \d+\) to use service '\w+' \(approval: ask\): denied/);
});

test('Lock: a target with approval: never asks too; Unlock ends it', async () => {
  const port = await portOf('scratch');
  await page.locator('header.top').getByRole('button', { name: 'Lock' }).click();
  await page.getByRole('status').filter({ hasText: 'Locked' }).waitFor();
  const client = psql(port, 'select 7');
  const prompt = promptFor(client.child.pid!);
  await prompt.waitFor();
  await page.screenshot({ path: join(OUT, 'approval-locked.png'), fullPage: true });
  await prompt.getByRole('button', { name: 'Allow until it exits' }).click();
  assert.equal((await client.done).stdout.trim(), '7');
  await page.locator('header.top').getByRole('button', { name: 'Unlock' }).click();
  await page.getByRole('status').filter({ hasText: 'Locked' }).waitFor({ state: 'detached' });
  const free = psql(port, 'select 8');
  assert.equal((await free.done).stdout.trim(), '8');
});

test('no page content or client output holds the password', async () => {
  const all = (await page.content()) + outputs.join('\n') + broker.output();
  assert.ok(!all.includes(cluster.users.scram.password));
});
