// "The target rejected the credentials" drops the service's cached values: a user who
// fixes a password at its source (a lease cached for an hour) gets in at the very next
// connection, not when the cached lease runs out.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createMemoryAudit } from '../../broker/audit/memory-audit.js';
import { createBroker } from '../../broker/broker.js';
import { defineSettings } from '../../broker/config/setting-checks.js';
import type { ServiceConfig } from '../../broker/config/types.js';
import type { Connector } from '../../broker/connectors/types.js';
import { createProviderRegistry } from '../../broker/credentials/registry.js';
import { createResolver } from '../../broker/credentials/resolver.js';
import type { Provider } from '../../broker/credentials/types.js';
import { BrokerError } from '../../broker/errors.js';
import { silentLogger } from '../../broker/log.js';

/** A target that accepts only the password "right", answering over the socket like a server would. */
const checkingConnector: Connector<Record<string, never>> = {
  spec: { name: 'check', requiredCredentials: [], knownCredentials: 'any', ...defineSettings({}) },
  create: () => ({
    connect(client, ctx) {
      const handshake = (async () => {
        const creds = await ctx.resolveCredentials();
        if (creds.text('password') !== 'right') throw new BrokerError('target_rejected_credentials', 'the target rejected the password');
        client.end('welcome\n');
        return { type: 'served' as const, target: 'check', tls: false, authMethod: 'password', done: Promise.resolve() };
      })();
      return { handshake, writeError: (err) => void client.end(`error: ${err.code}\n`) };
    },
    close: async () => {},
  }),
};

test('a rejected password is fetched afresh by the next connection, even from a lease cached for an hour', async () => {
  let current = 'wrong';
  let fetches = 0;
  const lease: Provider = {
    name: 'lease',
    async get(ids) {
      fetches++;
      return new Map(ids.map((id) => [id, { value: Buffer.from(current), expiresAt: new Date(Date.now() + 3_600_000) }]));
    },
  };
  const audit = createMemoryAudit();
  const resolver = createResolver({ registry: createProviderRegistry([lease]), audit, logger: silentLogger });
  const broker = createBroker({ logger: silentLogger, audit, resolver, connectors: new Map([['check', checkingConnector as Connector]]), stateDir: mkdtempSync(join(tmpdir(), 'sd-inv-')) });
  const service: ServiceConfig = {
    name: 'db',
    connector: 'check',
    listenOn: { type: 'tcp', host: '127.0.0.1', port: 0 },
    allowRemote: false,
    credentials: { password: { provider: 'lease', id: 'db/password', line: 1 } },
    config: {},
    line: 1,
  };
  await broker.apply({ version: '2', services: [service] });
  const port = Number(/:(\d+)$/.exec(broker.address('db')!)![1]);
  const answer = () =>
    new Promise<string>((resolve, reject) => {
      let text = '';
      net.connect(port, '127.0.0.1').on('data', (d) => (text += d)).on('close', () => resolve(text)).on('error', reject);
    });
  try {
    assert.equal(await answer(), 'error: target_rejected_credentials\n');
    current = 'right'; // the user fixes the password at its source
    assert.equal(await answer(), 'welcome\n');
    assert.equal(fetches, 2, 'the second connection fetched instead of using the cached lease');
    // A working value stays cached: the third connection does not fetch.
    assert.equal(await answer(), 'welcome\n');
    assert.equal(fetches, 2);
  } finally {
    await broker.stop({ drainMs: 0 });
  }
});
