// The resolver: grouping by provider, expiry caching with an injected clock, failure
// isolation, audit content, and that values never leak into errors or audit events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEvent, AuditSink } from '../../broker/audit/types.js';
import type { CredentialSpec } from '../../broker/config/types.js';
import { createProviderRegistry } from '../../broker/credentials/registry.js';
import { createLiteralProvider } from '../../broker/credentials/providers/literal.js';
import { createResolver, type ResolverOptions } from '../../broker/credentials/resolver.js';
import { ProviderError, type Provider, type SecretValue } from '../../broker/credentials/types.js';
import { BrokerError } from '../../broker/errors.js';
import { createLogger } from '../../broker/log.js';
import { waitFor } from '../fixtures/wait-for.js';

interface FakeProvider extends Provider {
  calls: string[][];
  /** Values handed out next; a function lets each call differ. */
  values: Map<string, () => SecretValue>;
  fail?: (ids: string[]) => Error | undefined;
  hang?: boolean;
  ignoreSignal?: boolean;
}

function fake(name: string, values: Record<string, string | (() => SecretValue)> = {}): FakeProvider {
  const p: FakeProvider = {
    name,
    calls: [],
    values: new Map(
      Object.entries(values).map(([id, v]) => [id, typeof v === 'string' ? () => ({ value: Buffer.from(v) }) : v]),
    ),
    async get(ids, { signal }) {
      p.calls.push([...ids]);
      if (p.hang) {
        await new Promise<void>((_, reject) => {
          if (!p.ignoreSignal) signal.addEventListener('abort', () => reject(new ProviderError(name, ids[0]!, 'aborted')));
        });
      }
      const err = p.fail?.(ids);
      if (err) throw err;
      const out = new Map<string, SecretValue>();
      for (const id of ids) {
        const v = p.values.get(id);
        if (!v) throw new ProviderError(name, id, 'not found');
        out.set(id, v());
      }
      return out;
    },
  };
  return p;
}

function setup(providers: Provider[], extra: Partial<ResolverOptions> = {}) {
  const events: AuditEvent[] = [];
  const logs: string[] = [];
  const audit: AuditSink = { record: (e) => events.push(e) };
  const logger = createLogger({ level: 'debug', format: 'json', write: (l) => logs.push(l) });
  let clock = Date.parse('2030-01-01T00:00:00Z');
  const resolver = createResolver({
    registry: createProviderRegistry(providers),
    audit,
    logger,
    now: () => clock,
    ...extra,
  });
  const advance = (ms: number): void => {
    clock += ms;
  };
  const at = (offsetMs: number): Date => new Date(clock + offsetMs);
  return { resolver, events, logs, advance, at };
}

const spec = (provider: string, id: string): CredentialSpec => ({ provider, id, line: 1 });
const opts = (connectionId = 'c1') => ({ signal: new AbortController().signal, connectionId });

async function brokerError(work: Promise<unknown>): Promise<BrokerError> {
  const err = await work.then(
    () => assert.fail('expected the resolve to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof BrokerError, `expected BrokerError, got ${String(err)}`);
  return err;
}

test('resolves a service as one group: one get() per provider with all its ids', async () => {
  const vault = fake('vault', { 'db/user': 'alice', 'db/pass': 'pw-1' });
  const env = fake('env', { HOST: 'db.internal' });
  const { resolver } = setup([vault, env, createLiteralProvider()]);
  const creds = {
    username: spec('vault', 'db/user'),
    password: spec('vault', 'db/pass'),
    host: spec('env', 'HOST'),
    port: spec('literal', '5432'),
    sslmode: spec('vault', 'db/user'),
  };
  const got = await resolver.resolve('pg', creds, opts());
  assert.deepEqual(vault.calls, [['db/user', 'db/pass']], 'vault called once, duplicate id asked once');
  assert.deepEqual(env.calls, [['HOST']]);
  assert.equal(got.text('username'), 'alice');
  assert.equal(got.text('password'), 'pw-1');
  assert.equal(got.text('host'), 'db.internal');
  assert.equal(got.text('port'), '5432');
  assert.equal(got.text('sslmode'), 'alice');
  assert.equal(got.text('missing'), undefined);
  assert.ok(Buffer.isBuffer(got.values.get('password')));
  assert.equal(got.expiresAt, undefined);
});

test('providers run in parallel', async () => {
  // Each provider answers only once the test opens the gate: run one after another, the
  // second would never be asked.
  let inFlight = 0;
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const held = (name: string): Provider => ({
    name,
    async get(ids) {
      inFlight++;
      await gate;
      return new Map(ids.map((id) => [id, { value: Buffer.from(id) }]));
    },
  });
  const { resolver } = setup([held('a'), held('b'), held('c')]);
  const resolved = resolver.resolve('s', { x: spec('a', '1'), y: spec('b', '2'), z: spec('c', '3') }, opts());
  await waitFor('the three providers asked at once', () => inFlight === 3, 5_000);
  open();
  assert.equal((await resolved).text('z'), '3');
});

test('values without expiry are fetched on every resolve (rotation is seen)', async () => {
  let n = 0;
  const p = fake('file', { '/run/pw': () => ({ value: Buffer.from(`pw-${++n}`) }) });
  const { resolver, events } = setup([p]);
  const creds = { password: spec('file', '/run/pw') };
  assert.equal((await resolver.resolve('s', creds, opts('c1'))).text('password'), 'pw-1');
  assert.equal((await resolver.resolve('s', creds, opts('c2'))).text('password'), 'pw-2');
  assert.equal(p.calls.length, 2);
  assert.deepEqual(
    events.filter((e) => e.type !== 'credential.rotated').map((e) => e.type === 'credential.fetched' && e.cached),
    [false, false],
  );
});

test('values with expiry are cached until the margin before expiry, then refetched', async () => {
  let n = 0;
  let base = 0;
  const sts = fake('sts', { role: () => ({ value: Buffer.from(`token-${++n}`), expiresAt: new Date(base + 15 * 60_000) }) });
  const { resolver, events, advance, at } = setup([sts], { expiryMarginMs: 60_000 });
  base = at(0).getTime();
  const creds = { token: spec('sts', 'role') };

  const first = await resolver.resolve('api', creds, opts('c1'));
  assert.equal(first.text('token'), 'token-1');
  assert.equal(first.expiresAt?.toISOString(), '2030-01-01T00:15:00.000Z');

  advance(13 * 60_000);
  const second = await resolver.resolve('api', creds, opts('c2'));
  assert.equal(second.text('token'), 'token-1', 'served from cache');
  assert.equal(sts.calls.length, 1);

  advance(60_000); // now exactly expiry - margin: refetch
  const third = await resolver.resolve('api', creds, opts('c3'));
  assert.equal(third.text('token'), 'token-2');
  assert.equal(sts.calls.length, 2);

  const fetched = events.filter((e) => e.type === 'credential.fetched');
  assert.deepEqual(
    fetched.map((e) => [e.connectionId, e.cached]),
    [
      ['c1', false],
      ['c2', true],
      ['c3', false],
    ],
  );
});

test('a value already inside the margin is used once but not cached', async () => {
  let clockBase = 0;
  const p = fake('sts', { r: () => ({ value: Buffer.from('short'), expiresAt: new Date(clockBase + 30_000) }) });
  const { resolver, at } = setup([p], { expiryMarginMs: 60_000 });
  clockBase = at(0).getTime();
  const creds = { token: spec('sts', 'r') };
  assert.equal((await resolver.resolve('s', creds, opts())).text('token'), 'short');
  await resolver.resolve('s', creds, opts());
  assert.equal(p.calls.length, 2);
});

test('cached and fresh values mix; only uncached ids are asked for; expiresAt is the earliest', async () => {
  let base = 0;
  const p = fake('vault', {
    lease: () => ({ value: Buffer.from('leased'), expiresAt: new Date(base + 3_600_000) }),
    plain: 'static',
  });
  const q = fake('sts', { tok: () => ({ value: Buffer.from('t'), expiresAt: new Date(base + 600_000) }) });
  const { resolver, at, events } = setup([p, q]);
  base = at(0).getTime();
  const creds = { a: spec('vault', 'lease'), b: spec('vault', 'plain'), c: spec('sts', 'tok') };
  const first = await resolver.resolve('s', creds, opts());
  assert.equal(first.expiresAt?.getTime(), base + 600_000);
  await resolver.resolve('s', creds, opts('c2'));
  assert.deepEqual(p.calls, [['lease', 'plain'], ['plain']]);
  assert.equal(q.calls.length, 1, 'all of sts was cached: no call at all');
  const second = events.filter((e) => e.type === 'credential.fetched' && e.connectionId === 'c2');
  assert.deepEqual(second, [
    { type: 'credential.fetched', service: 's', connectionId: 'c2', provider: 'vault', id: 'lease', cached: true, expiresAt: new Date(base + 3_600_000).toISOString() },
    { type: 'credential.fetched', service: 's', connectionId: 'c2', provider: 'vault', id: 'plain', cached: false },
    { type: 'credential.fetched', service: 's', connectionId: 'c2', provider: 'sts', id: 'tok', cached: true, expiresAt: new Date(base + 600_000).toISOString() },
  ]);
});

test('invalidate(service) drops that service\'s cached values; invalidate() drops all', async () => {
  let base = 0;
  const p = fake('sts', {
    a: () => ({ value: Buffer.from('A'), expiresAt: new Date(base + 3_600_000) }),
    b: () => ({ value: Buffer.from('B'), expiresAt: new Date(base + 3_600_000) }),
  });
  const { resolver, at } = setup([p]);
  base = at(0).getTime();
  await resolver.resolve('one', { t: spec('sts', 'a') }, opts());
  await resolver.resolve('two', { t: spec('sts', 'b') }, opts());
  resolver.invalidate('one');
  await resolver.resolve('one', { t: spec('sts', 'a') }, opts());
  await resolver.resolve('two', { t: spec('sts', 'b') }, opts());
  assert.deepEqual(p.calls, [['a'], ['b'], ['a']]);
  resolver.invalidate();
  await resolver.resolve('two', { t: spec('sts', 'b') }, opts());
  assert.deepEqual(p.calls, [['a'], ['b'], ['a'], ['b']]);
});

test('a connector zeroing its buffers does not corrupt the cache', async () => {
  let base = 0;
  const p = fake('sts', { a: () => ({ value: Buffer.from('keep-me'), expiresAt: new Date(base + 3_600_000) }) });
  const { resolver, at } = setup([p]);
  base = at(0).getTime();
  const first = await resolver.resolve('s', { t: spec('sts', 'a') }, opts());
  first.values.get('t')!.fill(0);
  const second = await resolver.resolve('s', { t: spec('sts', 'a') }, opts());
  assert.equal(second.text('t'), 'keep-me');
});

test('a failing provider fails the resolve with provider_failed naming service, provider and id', async () => {
  const good = fake('env', { USER: 'alice' });
  const bad = fake('keychain');
  bad.fail = () => new ProviderError('keychain', 'pg#alice', "no keychain item for service 'pg' account 'alice'");
  const { resolver, events, logs } = setup([good, bad]);
  const err = await brokerError(
    resolver.resolve('pg', { user: spec('env', 'USER'), password: spec('keychain', 'pg#alice') }, opts('c9')),
  );
  assert.equal(err.code, 'provider_failed');
  assert.equal(err.message, "service 'pg': provider 'keychain' could not get 'pg#alice': no keychain item for service 'pg' account 'alice'");
  assert.deepEqual(events, [
    { type: 'credential.fetched', service: 'pg', connectionId: 'c9', provider: 'env', id: 'USER', cached: false },
    {
      type: 'credential.failed',
      service: 'pg',
      connectionId: 'c9',
      provider: 'keychain',
      id: 'pg#alice',
      reason: "no keychain item for service 'pg' account 'alice'",
    },
  ]);
  assert.ok(logs.some((l) => l.includes('credential fetch failed') && l.includes('pg#alice')));
});

test('one failing provider fails only the services that use it', async () => {
  const good = fake('env', { A: 'a' });
  const bad = fake('vault');
  bad.fail = () => new ProviderError('vault', 'x', 'sealed');
  const { resolver } = setup([good, bad]);
  await brokerError(resolver.resolve('uses-vault', { p: spec('vault', 'x') }, opts()));
  const ok = await resolver.resolve('env-only', { p: spec('env', 'A') }, opts());
  assert.equal(ok.text('p'), 'a');
  bad.fail = undefined;
  bad.values.set('x', () => ({ value: Buffer.from('back') }));
  assert.equal((await resolver.resolve('uses-vault', { p: spec('vault', 'x') }, opts())).text('p'), 'back');
});

test('a failure stops the other providers of the same resolve', async () => {
  const slow = fake('slow', { a: 'a' });
  slow.hang = true;
  const bad = fake('bad');
  bad.fail = () => new ProviderError('bad', 'b', 'broken');
  const { resolver, events } = setup([slow, bad], { timeoutMs: 60_000 });
  const started = Date.now();
  const err = await brokerError(resolver.resolve('s', { x: spec('slow', 'a'), y: spec('bad', 'b') }, opts()));
  assert.match(err.message, /provider 'bad' could not get 'b': broken/);
  assert.ok(Date.now() - started < 1000);
  assert.deepEqual(
    events.map((e) => e.type),
    ['credential.failed'],
    'the stopped provider is not reported as failed',
  );
});

test('unknown provider, missing value and non-ProviderError throws are reported safely', async () => {
  const liar = fake('liar', {});
  liar.get = async () => new Map();
  const thrower = fake('thrower');
  thrower.fail = () => new TypeError('secret-ish internal text');
  const { resolver, events } = setup([liar, thrower]);

  let err = await brokerError(resolver.resolve('s', { a: spec('nope', 'id1') }, opts()));
  assert.equal(err.message, "service 's': provider 'nope' could not get 'id1': no such provider is configured");

  err = await brokerError(resolver.resolve('s', { a: spec('liar', 'id2') }, opts()));
  assert.equal(err.message, "service 's': provider 'liar' could not get 'id2': the provider returned no value");

  err = await brokerError(resolver.resolve('s', { a: spec('thrower', 'id3'), b: spec('thrower', 'id4') }, opts()));
  assert.equal(err.message, "service 's': provider 'thrower' could not get 'id3, id4': unexpected error (TypeError)");
  assert.ok(!JSON.stringify(events).includes('secret-ish'));
  assert.deepEqual(
    events.filter((e) => e.type === 'credential.failed' && e.provider === 'thrower').map((e) => e.type === 'credential.failed' && e.id),
    ['id3', 'id4'],
  );
});

test('a provider that never answers times out, even if it ignores the signal', async () => {
  const stuck = fake('stuck', { a: 'a' });
  stuck.hang = true;
  stuck.ignoreSignal = true;
  const { resolver, events } = setup([stuck], { timeoutMs: 30 });
  const err = await brokerError(resolver.resolve('s', { a: spec('stuck', 'a') }, opts()));
  assert.equal(err.message, "service 's': provider 'stuck' could not get 'a': timed out after 30 ms");
  assert.deepEqual(events, [
    { type: 'credential.failed', service: 's', connectionId: 'c1', provider: 'stuck', id: 'a', reason: 'timed out after 30 ms' },
  ]);
});

test('aborting the connection stops the resolve promptly, with the abort reason if it is a BrokerError', async () => {
  const stuck = fake('stuck', { a: 'a' });
  stuck.hang = true;
  const { resolver, events } = setup([stuck], { timeoutMs: 60_000 });
  const ac = new AbortController();
  const pending = resolver.resolve('s', { a: spec('stuck', 'a') }, { signal: ac.signal });
  await waitFor('the provider to be asked', () => stuck.calls.length === 1);
  ac.abort(new BrokerError('service_stopping', 'service s is stopping'));
  const err = await brokerError(pending);
  assert.equal(err.code, 'service_stopping');
  assert.deepEqual(events, [], 'an abort is not a provider failure');

  const plain = await brokerError(resolver.resolve('s', { a: spec('stuck', 'a') }, { signal: AbortSignal.abort() }));
  assert.match(plain.message, /aborted/);
});

test('an empty credential set resolves without calling anything', async () => {
  const { resolver, events } = setup([]);
  const got = await resolver.resolve('s', {}, opts());
  assert.equal(got.values.size, 0);
  assert.deepEqual(events, []);
});

test('literals are configuration, not fetches: no audit event, and errors never show the value', async () => {
  const stuck = fake('stuck', { a: 'a' });
  stuck.hang = true;
  const { resolver, events } = setup([createLiteralProvider(), stuck], { timeoutMs: 30 });
  const got = await resolver.resolve('s', { password: spec('literal', 'lit-Pw-42') }, opts());
  assert.equal(got.text('password'), 'lit-Pw-42');
  assert.deepEqual(events, []);
  const err = await brokerError(
    resolver.resolve('s', { password: spec('literal', 'lit-Pw-42'), other: spec('stuck', 'a') }, { signal: AbortSignal.abort() }),
  );
  assert.ok(!err.message.includes('lit-Pw-42'));
  assert.ok(!JSON.stringify(events).includes('lit-Pw-42'));
});

test('redaction: secret values never appear in errors, audit events or logs', async () => {
  const secrets = ['pw-Zq81-secret', 'tok-Yy77-secret', 'env-Xx55-secret', 'lit-Ww33-secret'];
  let base = 0;
  const vault = fake('vault', {
    pw: secrets[0]!,
    tok: () => ({ value: Buffer.from(secrets[1]!), expiresAt: new Date(base + 3_600_000) }),
  });
  const env = fake('env', { E: secrets[2]! });
  const broken = fake('broken');
  broken.fail = () => new ProviderError('broken', 'k', 'backend said no');
  const { resolver, events, logs, at } = setup([vault, env, broken, createLiteralProvider()]);
  base = at(0).getTime();
  const creds = { a: spec('vault', 'pw'), b: spec('vault', 'tok'), c: spec('env', 'E'), d: spec('literal', secrets[3]!) };
  const got = await resolver.resolve('s', creds, opts());
  assert.deepEqual([got.text('a'), got.text('b'), got.text('c'), got.text('d')], secrets);
  await resolver.resolve('s', creds, opts('c2'));
  const err = await brokerError(resolver.resolve('s', { ...creds, e: spec('broken', 'k') }, opts('c3')));

  const everything = [JSON.stringify(events), logs.join(''), err.message, String(err.stack), JSON.stringify(err)].join('\n');
  for (const s of secrets) assert.ok(!everything.includes(s), `'${s}' leaked`);
  // 3 fetched per resolve (the literal is not audited), plus the failure.
  assert.ok(events.length >= 9, 'events were recorded');
});
