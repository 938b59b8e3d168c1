// The built-in providers and the registry, without a real keychain (a fake backend
// stands in here; test/integration/keychain.test.ts uses a real Secret Service).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createEnvProvider } from '../../broker/credentials/providers/env.js';
import { createFileProvider, FILE_SIZE_LIMIT } from '../../broker/credentials/providers/file.js';
import {
  createKeychainProvider,
  parseKeychainId,
  type KeychainBackend,
} from '../../broker/credentials/providers/keychain.js';
import { createLiteralProvider } from '../../broker/credentials/providers/literal.js';
import { createProviderRegistry, defaultProviders } from '../../broker/credentials/registry.js';
import { ProviderError, type Provider } from '../../broker/credentials/types.js';
import { waitFor } from '../fixtures/wait-for.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sl-creds-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const live = () => ({ signal: new AbortController().signal });
const aborted = () => ({ signal: AbortSignal.abort() });

async function text(p: Provider, id: string): Promise<string> {
  const got = await p.get([id], live());
  return got.get(id)!.value.toString('utf8');
}

/** Asserts a ProviderError naming provider and id, whose message matches `reason`. */
async function rejectsWith(work: Promise<unknown>, provider: string, id: string, reason: RegExp): Promise<ProviderError> {
  const err = await work.then(
    () => assert.fail('expected a ProviderError'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ProviderError, `expected ProviderError, got ${String(err)}`);
  assert.equal(err.provider, provider);
  assert.equal(err.id, id);
  assert.match(err.message, reason);
  return err;
}

test('literal: the id is the value, as a Buffer', async () => {
  const p = createLiteralProvider();
  assert.equal(p.name, 'literal');
  const got = await p.get(['db.local', 'pässword'], live());
  assert.ok(Buffer.isBuffer(got.get('db.local')!.value));
  assert.equal(got.get('pässword')!.value.toString('utf8'), 'pässword');
  assert.equal(got.get('db.local')!.expiresAt, undefined);
});

test('literal: an aborted signal rejects without showing the id, which is the value', async () => {
  const err = await rejectsWith(createLiteralProvider().get(['hunter2'], aborted()), 'literal', '(literal value)', /aborted/);
  assert.ok(!err.message.includes('hunter2'));
});

test('env: reads the named variable, read fresh each time; empty is a value', async () => {
  const env: NodeJS.ProcessEnv = { PGPASSWORD: 'from-env', EMPTY: '' };
  const p = createEnvProvider({ env });
  assert.equal(p.name, 'env');
  assert.equal(await text(p, 'PGPASSWORD'), 'from-env');
  env.PGPASSWORD = 'rotated';
  assert.equal(await text(p, 'PGPASSWORD'), 'rotated');
  assert.equal(await text(p, 'EMPTY'), '');
});

test('env: a missing variable names the variable', async () => {
  const p = createEnvProvider({ env: { OTHER: 'x' } });
  await rejectsWith(p.get(['OTHER', 'NOPE'], live()), 'env', 'NOPE', /environment variable 'NOPE' is not set/);
});

test('env: an aborted signal rejects', async () => {
  await rejectsWith(createEnvProvider({ env: { A: 'a' } }).get(['A'], aborted()), 'env', 'A', /aborted/);
});

test('file: content as is, one trailing newline stripped, re-read on every get', async () => {
  const f = path.join(tmp, 'password');
  fs.writeFileSync(f, 'first\n');
  const p = createFileProvider();
  assert.equal(p.name, 'file');
  assert.equal(await text(p, f), 'first');
  fs.writeFileSync(f, 'second');
  assert.equal(await text(p, f), 'second', 'an edited file rotates the value');
  fs.writeFileSync(f, 'two newlines\n\n');
  assert.equal(await text(p, f), 'two newlines\n', 'only one newline is stripped');
  fs.writeFileSync(f, 'crlf\r\n');
  assert.equal(await text(p, f), 'crlf');
  fs.writeFileSync(f, '  spaced \t');
  assert.equal(await text(p, f), '  spaced \t', 'other whitespace is kept');
  fs.writeFileSync(f, Buffer.from([0x00, 0xff, 0x0a]));
  const got = await p.get([f], live());
  assert.deepEqual([...got.get(f)!.value], [0x00, 0xff], 'binary content survives');
});

test('file: ~ expands to the home directory; relative paths use baseDir', async () => {
  const home = path.join(tmp, 'home');
  fs.mkdirSync(path.join(home, '.secrets'), { recursive: true });
  fs.writeFileSync(path.join(home, '.secrets', 'pg'), 'tilde\n');
  fs.writeFileSync(path.join(tmp, 'relative'), 'rel\n');
  const p = createFileProvider({ homedir: () => home, baseDir: tmp });
  assert.equal(await text(p, '~/.secrets/pg'), 'tilde');
  assert.equal(await text(p, 'relative'), 'rel');
  assert.equal(await text(p, './relative'), 'rel');
});

test('file: missing file, directory and unreadable file give clear reasons', async () => {
  const p = createFileProvider();
  const missing = path.join(tmp, 'does-not-exist');
  await rejectsWith(p.get([missing], live()), 'file', missing, /no such file/);
  await rejectsWith(p.get([tmp], live()), 'file', tmp, /is a directory/);
  if (process.getuid?.() !== 0) {
    const locked = path.join(tmp, 'locked');
    fs.writeFileSync(locked, 'x', { mode: 0o000 });
    await rejectsWith(p.get([locked], live()), 'file', locked, /permission denied/);
  }
});

test('file: an aborted signal rejects', async () => {
  const f = path.join(tmp, 'abortme');
  fs.writeFileSync(f, 'x');
  await rejectsWith(createFileProvider().get([f], aborted()), 'file', f, /aborted/);
});

test('file: FIFOs, devices and oversized files are refused with the reason; FIFOs no longer stall other file reads', async () => {
  const p = createFileProvider();
  // More FIFOs than libuv has pool threads (4): opening them blocked every other file read.
  const fifos = Array.from({ length: 8 }, (_, i) => path.join(tmp, `fifo-${i}`));
  for (const f of fifos) execFileSync('mkfifo', [f]);
  const results = await Promise.allSettled(fifos.map((f) => p.get([f], live())));
  for (const [i, r] of results.entries()) {
    assert.equal(r.status, 'rejected');
    assert.match((r as PromiseRejectedResult).reason.message, new RegExp(`could not get '${fifos[i]}': not a regular file \\(a FIFO\\)`));
  }
  const regular = path.join(tmp, 'after-fifos');
  fs.writeFileSync(regular, 'still readable\n');
  assert.equal(await text(p, regular), 'still readable');

  const limit = path.join(tmp, 'at-limit');
  fs.writeFileSync(limit, Buffer.alloc(FILE_SIZE_LIMIT, 0x61));
  assert.equal((await p.get([limit], live())).get(limit)!.value.length, FILE_SIZE_LIMIT);
  const big = path.join(tmp, 'too-big');
  fs.writeFileSync(big, Buffer.alloc(FILE_SIZE_LIMIT + 1, 0x61));
  await rejectsWith(p.get([big], live()), 'file', big, /larger than the 64 KiB limit for a credential file/);
  await rejectsWith(p.get(['/dev/zero'], live()), 'file', '/dev/zero', /not a regular file \(a character device\)/);
});

// A fake keyring: items by service/account, optional unavailability and hangs.
function fakeKeychain(items: Map<string, string>, behaviour: { unavailable?: string; hang?: boolean } = {}) {
  const calls = { open: 0, pending: 0 };
  const backend: KeychainBackend = {
    open(service, account) {
      calls.open++;
      if (behaviour.unavailable) throw new Error(behaviour.unavailable);
      return {
        getSecret() {
          if (behaviour.hang) {
            calls.pending++;
            return new Promise(() => {});
          }
          const v = items.get(`${service}/${account}`);
          return Promise.resolve(v === undefined ? null : [...Buffer.from(v)]);
        },
      };
    },
  };
  return { backend, calls };
}

test('keychain: id parsing is service#account, split at the first #', () => {
  assert.deepEqual(parseKeychainId('pg#alice'), { service: 'pg', account: 'alice' });
  assert.deepEqual(parseKeychainId('pg#al#ice'), { service: 'pg', account: 'al#ice' });
  assert.equal(parseKeychainId('pg'), undefined);
  assert.equal(parseKeychainId('#alice'), undefined);
  assert.equal(parseKeychainId('pg#'), undefined);
});

test('keychain: reads items; a missing item or bad id is a clear ProviderError', async () => {
  const { backend } = fakeKeychain(new Map([['pg/alice', 'kc-secret']]));
  const p = createKeychainProvider({ backend });
  assert.equal(p.name, 'keychain');
  assert.equal(await text(p, 'pg#alice'), 'kc-secret');
  await rejectsWith(p.get(['pg#bob'], live()), 'keychain', 'pg#bob', /no keychain item for service 'pg' account 'bob'/);
  await rejectsWith(p.get(['nohash'], live()), 'keychain', 'nohash', /service#account/);
});

test('keychain: no OS keychain says so', async () => {
  const { backend } = fakeKeychain(new Map(), { unavailable: 'DBus error: no session bus\nmore detail' });
  const p = createKeychainProvider({ backend });
  const err = await rejectsWith(p.get(['a#b'], live()), 'keychain', 'a#b', /the OS keychain is not available: DBus error: no session bus$/);
  assert.ok(!err.message.includes('more detail'), 'only the first line of a native error');
});

test('keychain: a hung keychain times out, then fails fast once reads pile up', async () => {
  const { backend, calls } = fakeKeychain(new Map(), { hang: true });
  const p = createKeychainProvider({ backend, timeoutMs: 30, maxAbandoned: 2 });
  await rejectsWith(p.get(['a#b'], live()), 'keychain', 'a#b', /did not answer within 30 ms/);
  await rejectsWith(p.get(['a#c'], live()), 'keychain', 'a#c', /did not answer within 30 ms/);
  const started = Date.now();
  await rejectsWith(p.get(['a#d'], live()), 'keychain', 'a#d', /not responding \(2 earlier reads/);
  assert.ok(Date.now() - started < 25, 'fails fast without waiting for the timeout');
  assert.equal(calls.pending, 2, 'no further native read was started');
});

test('keychain: aborting a pending read rejects promptly', async () => {
  const { backend, calls } = fakeKeychain(new Map(), { hang: true });
  const p = createKeychainProvider({ backend, timeoutMs: 60_000 });
  const ac = new AbortController();
  const pending = p.get(['a#b'], { signal: ac.signal });
  await waitFor('the native read to start', () => calls.pending === 1);
  ac.abort();
  await rejectsWith(pending, 'keychain', 'a#b', /aborted/);
  await rejectsWith(p.get(['a#b'], aborted()), 'keychain', 'a#b', /aborted/);
});

test('registry: get by name, names(), duplicates rejected', () => {
  const reg = createProviderRegistry(defaultProviders({ env: {} }));
  assert.deepEqual(reg.names(), ['literal', 'env', 'file', 'keychain']);
  assert.equal(reg.get('file')!.name, 'file');
  assert.equal(reg.get('vault'), undefined);
  assert.throws(() => createProviderRegistry([createLiteralProvider(), createLiteralProvider()]), /two credential providers are named 'literal'/);
});

test('registry: defaultProviders passes the injected env to the env provider', async () => {
  const reg = createProviderRegistry(defaultProviders({ env: { ONLY_HERE: 'injected' } }));
  assert.equal(await text(reg.get('env')!, 'ONLY_HERE'), 'injected');
});

test('redaction: provider errors never contain the values they guard', async () => {
  const secret = 'Sup3r-S3cret-Value';
  const f = path.join(tmp, 'dir-with-secret');
  fs.mkdirSync(f);
  const failures = [
    () => createEnvProvider({ env: { SET: secret } }).get(['SET', 'UNSET'], live()),
    () => createFileProvider().get([f, path.join(tmp, 'missing')], live()),
    () => createKeychainProvider({ backend: fakeKeychain(new Map([['s/a', secret]])).backend }).get(['s#a', 's#b'], live()),
  ];
  for (const work of failures) {
    const err = (await work().then(() => assert.fail('expected failure'), (e: unknown) => e)) as Error;
    assert.ok(err instanceof ProviderError);
    assert.ok(!err.message.includes(secret), err.message);
    assert.ok(!String(err.stack).includes(secret));
  }
});
