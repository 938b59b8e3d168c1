// Rotation in the resolver (rotation-detector.ts, value-cache.ts): credential.rotated
// once per change (per service and provider, all changed ids in one record), never on
// the first fetch or for literals; credential.expiring when a cached value reaches the
// margin. The API layer turns these audit records into events.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMemoryAudit } from '../../broker/audit/memory-audit.js';
import type { CredentialSpec } from '../../broker/config/types.js';
import { createLiteralProvider } from '../../broker/credentials/providers/literal.js';
import { createProviderRegistry } from '../../broker/credentials/registry.js';
import { createResolver } from '../../broker/credentials/resolver.js';
import { waitFor } from '../fixtures/wait-for.js';
import type { Provider, SecretValue } from '../../broker/credentials/types.js';
import { createLogger } from '../../broker/log.js';

const spec = (provider: string, id: string): CredentialSpec => ({ provider, id, line: 1 });
const opts = () => ({ signal: new AbortController().signal });

function setup(values: Record<string, () => SecretValue>, margin = 60_000, now?: () => number) {
  const p: Provider = {
    name: 'lease',
    async get(ids) {
      return new Map(ids.map((id) => [id, values[id]!()]));
    },
  };
  const audit = createMemoryAudit();
  const resolver = createResolver({ registry: createProviderRegistry([p, createLiteralProvider()]), audit, logger: createLogger({ write: () => {} }), expiryMarginMs: margin, now });
  const events = () => audit.records.filter((r) => r.type === 'credential.rotated' || r.type === 'credential.expiring');
  return { resolver, audit, events };
}

test('a changed lease is one rotation event per service, naming every changed id, never the value', async () => {
  let lease = 1;
  const { resolver, audit, events } = setup({
    'db#username': () => ({ value: Buffer.from(`user-${lease}`) }),
    'db#password': () => ({ value: Buffer.from(`secret-pw-${lease}`) }),
  });
  const creds = { username: spec('lease', 'db#username'), password: spec('lease', 'db#password'), host: spec('literal', 'h') };
  await resolver.resolve('app', creds, opts());
  await resolver.resolve('app', creds, opts());
  assert.equal(events().length, 0, 'first fetch and an unchanged value are no rotation');
  lease = 2;
  await resolver.resolve('app', creds, opts());
  await resolver.resolve('app', creds, opts());
  assert.deepEqual(
    events().map(({ type, service, provider, id }) => ({ type, service, provider, id })),
    [{ type: 'credential.rotated', service: 'app', provider: 'lease', id: 'db#username, db#password' }],
  );
  // Another service seeing lease 2 first: no rotation for it.
  await resolver.resolve('other', creds, opts());
  assert.equal(events().length, 1);
  assert.ok(!JSON.stringify(audit.records).includes('secret-pw'));
  lease = 3;
  await resolver.resolve('app', creds, opts());
  assert.equal(events().length, 2, 'each change is one more record');
});

test('credential.expiring fires at the margin for each service using the cached value', async () => {
  // The resolver's clock stands still, so both services find the value fresh however slow
  // the machine is; the margin timer (300 ms before expiry at 500 ms) runs on real time.
  const t0 = Date.now();
  const expiresAt = new Date(t0 + 500);
  const { resolver, events } = setup({ 'db#password': () => ({ value: Buffer.from('pw'), expiresAt }) }, 300, () => t0);
  await resolver.resolve('a', { password: spec('lease', 'db#password') }, opts());
  await resolver.resolve('b', { password: spec('lease', 'db#password') }, opts());
  await waitFor('the expiring records', () => events().length >= 2);
  assert.deepEqual(
    events().map((e) => [e.type, e.service]),
    [['credential.expiring', 'a'], ['credential.expiring', 'b']],
  );
  const first = events()[0]!;
  assert.equal(first.type === 'credential.expiring' && first.expiresAt, expiresAt.toISOString());
});
