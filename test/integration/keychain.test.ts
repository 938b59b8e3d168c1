// The keychain provider against a real Secret Service (gnome-keyring). Run it through
//   bash scripts/with-keyring.sh node --test dist/test/integration/keychain.test.js
// which starts a private D-Bus session and a throwaway unlocked keyring. Without a
// reachable Secret Service every test fails with a message saying so: never skipped.
// Item names are random and removed afterwards, in case it is ever pointed elsewhere.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { AsyncEntry } from '@napi-rs/keyring';
import { createKeychainProvider } from '../../broker/credentials/providers/keychain.js';
import { createProviderRegistry, defaultProviders } from '../../broker/credentials/registry.js';
import { createResolver } from '../../broker/credentials/resolver.js';
import { ProviderError } from '../../broker/credentials/types.js';
import type { AuditEvent } from '../../broker/audit/types.js';
import { BrokerError } from '../../broker/errors.js';
import { silentLogger } from '../../broker/log.js';

const service = `secretless-test-${randomBytes(4).toString('hex')}`;
const pinned = { linux: { store: 'secret-service' as const } };
const entry = (account: string) => new AsyncEntry(service, account, pinned);
const created = new Set<string>();
const live = () => ({ signal: new AbortController().signal });

after(async () => {
  for (const account of created) {
    try {
      await entry(account).deleteCredential();
    } catch {
      // Best effort: the keyring is throwaway under with-keyring.sh anyway.
    }
  }
});

async function store(account: string, value: string | Buffer): Promise<void> {
  created.add(account);
  await entry(account).setSecret(typeof value === 'string' ? Buffer.from(value) : value);
}

const problem = await secretServiceProblem();

/** Why the Secret Service cannot be used, or undefined when it can. */
async function secretServiceProblem(): Promise<string | undefined> {
  const hint = 'run this test through scripts/with-keyring.sh (needs dbus and gnome-keyring)';
  if (!process.env.DBUS_SESSION_BUS_ADDRESS) return `DBUS_SESSION_BUS_ADDRESS is not set: ${hint}`;
  const timeout = (ms: number) =>
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer in ${ms / 1000} s`)), ms).unref());
  try {
    await Promise.race([entry('probe').getSecret(), timeout(10_000)]);
  } catch (err) {
    return `no Secret Service is reachable (${(err as Error).message}): ${hint}`;
  }
  try {
    // Reading works on a locked keyring too; the tests need an unlocked, writable one.
    await Promise.race([entry('probe').setSecret(Buffer.from('probe')), timeout(10_000)]);
    await entry('probe').deleteCredential();
    return undefined;
  } catch (err) {
    return `the Secret Service cannot store items, is the keyring unlocked? (${(err as Error).message}): ${hint}`;
  }
}

function requireSecretService(): void {
  if (problem) assert.fail(problem);
}

async function read(id: string): Promise<string> {
  const got = await createKeychainProvider().get([id], live());
  return got.get(id)!.value.toString('utf8');
}

function secretTool(args: string[], stdin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('secret-tool', args, (err, stdout, stderr) =>
      err ? reject(new Error(`secret-tool ${args[0]} failed: ${stderr || err.message}`)) : resolve(stdout),
    );
    child.stdin!.end(stdin ?? '');
  });
}

test('a Secret Service is reachable', () => {
  requireSecretService();
});

test('reads an item stored with the keyring binding', async () => {
  requireSecretService();
  await store('alice', 'kc-pass-1');
  assert.equal(await read(`${service}#alice`), 'kc-pass-1');
});

test('reads an item stored with secret-tool, as users do', async () => {
  requireSecretService();
  created.add('from-cli');
  await secretTool(['store', '--label=secretless test', 'service', service, 'username', 'from-cli'], 'cli-pass');
  assert.equal(await read(`${service}#from-cli`), 'cli-pass');
});

test('an updated item is seen on the next read (rotation)', async () => {
  requireSecretService();
  await store('rotating', 'before');
  assert.equal(await read(`${service}#rotating`), 'before');
  await store('rotating', 'after');
  assert.equal(await read(`${service}#rotating`), 'after');
});

test('values come back byte for byte: UTF-8, trailing newline, # in the account', async () => {
  requireSecretService();
  await store('bytes#1', 'pä$$ wörd\n');
  const got = await createKeychainProvider().get([`${service}#bytes#1`], live());
  assert.equal(got.get(`${service}#bytes#1`)!.value.toString('utf8'), 'pä$$ wörd\n');
});

test('several ids in one get', async () => {
  requireSecretService();
  await store('u1', 'one');
  await store('u2', 'two');
  const ids = [`${service}#u1`, `${service}#u2`];
  const got = await createKeychainProvider().get(ids, live());
  assert.deepEqual(
    ids.map((id) => got.get(id)!.value.toString()),
    ['one', 'two'],
  );
});

test('a deleted item gives a clear ProviderError, never a value', async () => {
  requireSecretService();
  await store('doomed', 'doomed-value');
  assert.equal(await read(`${service}#doomed`), 'doomed-value');
  assert.equal(await entry('doomed').deleteCredential(), true);
  const err = await createKeychainProvider()
    .get([`${service}#doomed`], live())
    .then(() => assert.fail('expected a ProviderError'), (e: unknown) => e);
  assert.ok(err instanceof ProviderError);
  assert.equal(err.provider, 'keychain');
  assert.equal(err.id, `${service}#doomed`);
  assert.match(err.message, new RegExp(`no keychain item for service '${service}' account 'doomed'`));
  assert.ok(!err.message.includes('doomed-value'));
});

test('through the resolver: fetched every time, an edited item is one rotation, failure names service and provider', async () => {
  requireSecretService();
  const events: AuditEvent[] = [];
  const resolver = createResolver({
    registry: createProviderRegistry(defaultProviders({ env: {} })),
    audit: { record: (e) => events.push(e) },
    logger: silentLogger,
  });
  await store('resolver', 'r-1');
  const creds = { password: { provider: 'keychain', id: `${service}#resolver`, line: 3 } };
  assert.equal((await resolver.resolve('pg', creds, { ...live(), connectionId: 'a' })).text('password'), 'r-1');
  await store('resolver', 'r-2');
  assert.equal((await resolver.resolve('pg', creds, { ...live(), connectionId: 'b' })).text('password'), 'r-2');
  await entry('resolver').deleteCredential();
  const err = await resolver
    .resolve('pg', creds, { ...live(), connectionId: 'c' })
    .then(() => assert.fail('expected provider_failed'), (e: unknown) => e);
  assert.ok(err instanceof BrokerError);
  assert.equal(err.code, 'provider_failed');
  assert.match(err.message, /^service 'pg': provider 'keychain' could not get '.*#resolver': no keychain item/);
  const all = JSON.stringify(events) + err.message;
  assert.ok(!all.includes('r-1') && !all.includes('r-2'));
  assert.deepEqual(
    events.map((e) => e.type),
    ['credential.fetched', 'credential.fetched', 'credential.rotated', 'credential.failed'],
  );
  const rotated = events.find((e) => e.type === 'credential.rotated');
  assert.deepEqual(rotated, { type: 'credential.rotated', service: 'pg', provider: 'keychain', id: `${service}#resolver` });
});

test('with no session bus the error says the OS keychain is not available', async () => {
  requireSecretService();
  // libdbus caches the bus address per process, so this runs in a child process.
  const provider = new URL('../../broker/credentials/providers/keychain.js', import.meta.url).href;
  const script = `
    const { createKeychainProvider } = await import(${JSON.stringify(provider)});
    try { await createKeychainProvider().get(['svc#acct'], { signal: new AbortController().signal }); console.log('NO ERROR'); }
    catch (err) { console.log(err.name + ': ' + err.message); }`;
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/secretless-test-bus' }, timeout: 20_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`child failed: ${stderr || err.message}`)) : resolve(stdout.trim())),
    ),
  );
  assert.match(out, /^ProviderError: provider 'keychain' could not get 'svc#acct': the OS keychain is not available: .+/);
});

test("the README's secret-tool example creates an item the keychain provider finds", async () => {
  requireSecretService();
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const example = /`secret-tool store ([^`]+)` \(then `get: ([^`]+)`/.exec(readme);
  assert.ok(example, 'the README has a secret-tool store example with its get: id');
  // The README's own words, run as a user would (the value on stdin, as secret-tool prompts for it).
  const args = example[1]!.split(' ');
  const id = example[2]!;
  const [svc, account] = [args[args.indexOf('service') + 1]!, id.slice(id.indexOf('#') + 1)];
  await secretTool(['store', ...args], 'readme-pass');
  try {
    assert.equal(await read(id), 'readme-pass');
  } finally {
    await secretTool(['clear', 'service', svc, 'username', account]);
  }
});
