// The connector lifecycle as the broker drives it: settings parsed once with their
// defaults, one ServiceConnector per running service, close() once the service has
// stopped and its last connection is over, and a service whose settings are refused
// failing alone.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createMemoryAudit } from '../../broker/audit/memory-audit.js';
import { createBroker } from '../../broker/broker.js';
import { defineSettings, durationMs, flag, type SettingsOf } from '../../broker/config/setting-checks.js';
import type { BrokerConfig, ServiceConfig } from '../../broker/config/types.js';
import type { Connector, ConnectorDeps } from '../../broker/connectors/types.js';
import { silentLogger } from '../../broker/log.js';
import { freePort } from '../fixtures/free-port.js';
import { waitFor } from '../fixtures/wait-for.js';

const definition = { greeting: flag(), idleMs: durationMs(1234) };

interface Seen {
  settings: SettingsOf<typeof definition>[];
  deps: ConnectorDeps[];
  closed: string[];
  /** Resolves the open served connections. */
  finish: (() => void)[];
}

/** A connector that serves each connection until the test finishes it, and records its lifecycle. */
function recordingConnector(seen: Seen): Connector<SettingsOf<typeof definition>> {
  return {
    spec: { name: 'probe', requiredCredentials: [], knownCredentials: 'any', ...defineSettings(definition) },
    create(service, settings, deps) {
      seen.settings.push(settings);
      seen.deps.push(deps);
      return {
        connect(client) {
          const done = new Promise<void>((resolve) => seen.finish.push(resolve)).then(() => void client.end());
          return { handshake: Promise.resolve({ type: 'served', target: 'probe', tls: false, authMethod: 'none', done }) };
        },
        probe: async () => ({ target: 'probe', authMethod: 'none' }),
        close: async () => void seen.closed.push(service.name),
      };
    },
  };
}

const service = (name: string, config: Record<string, unknown> = {}): ServiceConfig => ({
  name,
  connector: 'probe',
  listenOn: { type: 'tcp', host: '127.0.0.1', port: 0 },
  allowRemote: false,
  credentials: {},
  config,
  line: 1,
});

function setup() {
  const seen: Seen = { settings: [], deps: [], closed: [], finish: [] };
  const audit = createMemoryAudit();
  const stateDir = mkdtempSync(join(tmpdir(), 'sd-lifecycle-'));
  const resolver = { resolve: async () => ({ values: new Map(), text: () => undefined }), invalidate: () => {} };
  const broker = createBroker({ logger: silentLogger, audit, resolver, connectors: new Map([['probe', recordingConnector(seen) as Connector]]), stateDir });
  return { seen, audit, broker, stateDir };
}

function connect(address: string): Promise<net.Socket> {
  const m = /:(\d+)$/.exec(address)!;
  const socket = net.connect(Number(m[1]), '127.0.0.1');
  return new Promise((resolve, reject) => socket.once('connect', () => resolve(socket)).once('error', reject));
}

test('settings reach the connector typed, with the defaults applied once; deps carry the state dir and the bastion pool', async () => {
  const { seen, broker, stateDir } = setup();
  const config: BrokerConfig = { version: '2', services: [service('a'), service('b', { greeting: true, idleMs: 5 })] };
  await broker.apply(config);
  assert.deepEqual(seen.settings, [
    { greeting: false, idleMs: 1234 },
    { greeting: true, idleMs: 5 },
  ]);
  assert.equal(seen.deps[0]!.stateDir, stateDir);
  assert.equal(seen.deps[0]!.bastions, seen.deps[1]!.bastions, 'one pool for the broker');
  assert.equal(seen.deps[0]!.bastions.size(), 0);
  await broker.stop();
  assert.deepEqual(seen.closed.sort(), ['a', 'b']);
});

test('a stopped service closes its connector only once its last connection is over', async () => {
  const { seen, broker } = setup();
  await broker.apply({ version: '2', services: [service('a')] });
  const client = await connect(broker.address('a')!);
  await waitFor('the connection to be served', () => seen.finish.length === 1);
  // Drained without waiting: the connection goes on, the connector stays open.
  const restarted = { version: '2' as const, services: [service('a', { idleMs: 7 })] };
  await broker.apply(restarted);
  assert.deepEqual(seen.closed, []);
  assert.equal(seen.settings.length, 2, 'the restart created a new connector');
  seen.finish[0]!();
  await waitFor('the old connector to close', () => seen.closed.length === 1);
  assert.deepEqual(seen.closed, ['a']);
  client.destroy();
  await broker.stop();
  assert.deepEqual(seen.closed, ['a', 'a']);
});

test('a service whose settings are refused fails alone, with the reason', async () => {
  const { seen, broker, audit } = setup();
  await broker.apply({ version: '2', services: [service('bad', { idleMs: -1 }), service('good')] });
  const status = Object.fromEntries(broker.status().map((s) => [s.name, s.status]));
  assert.equal(status.good!.state, 'listening');
  assert.equal(status.bad!.state, 'failed');
  assert.match(status.bad!.state === 'failed' ? status.bad!.reason : '', /service 'bad': config\.idleMs: must be a positive number of milliseconds/);
  assert.ok(audit.records.some((r) => r.type === 'service.failed' && r.service === 'bad'));
  assert.equal(seen.settings.length, 1);
  await broker.stop();
});

test('reloading a changed service refuses no connection: the new instance inherits the listening socket', async () => {
  const { seen, broker, audit } = setup();
  const port = await freePort();
  const at = (idleMs: number): BrokerConfig => ({ version: '2', services: [{ ...service('a', { idleMs }), listenOn: { type: 'tcp', host: '127.0.0.1', port } }] });
  await broker.apply(at(1));
  let accepted = 0;
  const refused: string[] = [];
  let stop = false;
  // Clients connecting back to back, as fast as they can, all through the reloads.
  const clients = Array.from({ length: 4 }, async () => {
    while (!stop)
      await new Promise<void>((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        s.once('connect', () => {
          accepted++;
          s.destroy();
          resolve();
        });
        s.once('error', (err: NodeJS.ErrnoException) => {
          refused.push(err.code ?? err.message);
          resolve();
        });
      });
  });
  try {
    for (let i = 2; i <= 40; i++) {
      const before = accepted;
      await broker.apply(at(i));
      await waitFor('clients to connect to the new instance', () => accepted >= before + 8 || refused.length > 0);
    }
  } finally {
    stop = true;
    await Promise.all(clients);
  }
  assert.deepEqual(refused, []);
  assert.equal(broker.address('a'), `tcp://127.0.0.1:${port}`);
  assert.equal(seen.settings.at(-1)!.idleMs, 40, 'the last reload serves new connections');
  assert.equal(audit.records.filter((r) => r.type === 'service.started').length, 40);
  for (const finish of seen.finish) finish();
  await broker.stop();
});
