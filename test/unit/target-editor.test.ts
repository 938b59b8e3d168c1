// The safe editor's broker side (issue 12): keychain ids derived from the target name,
// never overwriting an existing keychain item without confirmation (the add form once
// replaced the first target's password), templates for every connector from the specs,
// references (never values) for editing one credential alone, field paths instead of
// file lines in errors, delete with the keychain items only that target used.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { keychainIdFor, type ApiErrorBody, type TargetInput } from '../../broker/api.js';
import { ApiError } from '../../broker/api-error.js';
import { createBrokerApi } from '../../broker/api-service.js';
import { createMemoryAudit } from '../../broker/audit/memory-audit.js';
import { createBroker } from '../../broker/broker.js';
import { loadConfig } from '../../broker/config/load.js';
import type { KeychainWriter } from '../../broker/config/write.js';
import { builtinConnectors, connectorSpecs } from '../../broker/connectors/registry.js';
import { createProviderRegistry, defaultProviders } from '../../broker/credentials/registry.js';
import { createResolver } from '../../broker/credentials/resolver.js';
import { silentLogger } from '../../broker/log.js';

const dir = mkdtempSync(join(tmpdir(), 'sd-editor-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function fakeKeychain(): KeychainWriter & { items: Map<string, string> } {
  const items = new Map<string, string>();
  return {
    items,
    set: async (s, a, v) => void items.set(`${s}#${a}`, v),
    exists: async (s, a) => items.has(`${s}#${a}`),
    delete: async (s, a) => items.delete(`${s}#${a}`),
  };
}

async function setup(keychain = fakeKeychain()) {
  const configPath = join(dir, `c${Math.random().toString(36).slice(2)}.yml`);
  writeFileSync(configPath, 'version: "2"\nservices:\n');
  const audit = createMemoryAudit();
  const registry = createProviderRegistry(defaultProviders({ env: {} }));
  const connectors = builtinConnectors();
  const parse = { connectors: connectorSpecs(connectors), providers: registry.names() };
  const broker = createBroker({ logger: silentLogger, audit, resolver: createResolver({ registry, audit, logger: silentLogger }), connectors, stateDir: dir });
  const reload = async () => broker.apply(await loadConfig(configPath, parse));
  await reload();
  const api = createBrokerApi({ broker, audit, configPath, parse, reload, keychain, stateDir: dir });
  after(async () => {
    api.close();
    await broker.stop({ drainMs: 0 });
  });
  return { api, keychain, configPath };
}

const pgTarget = (name: string, extra: Partial<TargetInput> = {}): TargetInput => ({
  name,
  connector: 'pg',
  listenOn: 'tcp://127.0.0.1:0',
  credentials: { host: { literal: 'db.internal' }, username: { literal: 'app' }, password: { from: 'keychain', get: keychainIdFor(name, 'password') } },
  keychainValues: { password: `pw-of-${name}` },
  ...extra,
});

const bodyOf = async (p: Promise<unknown>): Promise<ApiErrorBody & { status: number }> => {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApiError, String(err));
    return { ...err.body(), status: err.status };
  }
  throw new Error('expected the call to fail');
};

test('two targets get their own keychain items, named after the target', async () => {
  const { api, keychain } = await setup();
  await api.saveTarget(pgTarget('first'));
  await api.saveTarget(pgTarget('second'));
  assert.equal(keychain.items.get('secretless-desktop/first#password'), 'pw-of-first');
  assert.equal(keychain.items.get('secretless-desktop/second#password'), 'pw-of-second');
});

test('storing a value under an item another target uses is refused, naming it, until the user confirms', async () => {
  const { api, keychain, configPath } = await setup();
  await api.saveTarget(pgTarget('first'));
  const before = readFileSync(configPath, 'utf8');
  // The add form's old bug: the second target reuses the first target's item.
  const clash = pgTarget('second', { credentials: { ...pgTarget('second').credentials, password: { from: 'keychain', get: keychainIdFor('first', 'password') } } });
  const refused = await bodyOf(api.saveTarget(clash));
  assert.equal(refused.status, 409);
  assert.equal(refused.code, 'keychain_item_exists');
  assert.deepEqual(refused.keychainConflict, { field: 'credentials.password', id: 'secretless-desktop/first#password', usedBy: ['first'] });
  assert.match(refused.error, /used by 'first'/);
  assert.equal(keychain.items.get('secretless-desktop/first#password'), 'pw-of-first', 'the first password is untouched');
  assert.equal(readFileSync(configPath, 'utf8'), before, 'nothing was written');
  // Confirmed: then it is the user's choice.
  await api.saveTarget({ ...clash, overwriteKeychainItems: ['secretless-desktop/first#password'] });
  assert.equal(keychain.items.get('secretless-desktop/first#password'), 'pw-of-second');
});

test('an item no target uses (made with secret-tool) is not overwritten silently either; referencing it without a value is fine', async () => {
  const keychain = fakeKeychain();
  keychain.items.set('secretless#app-db', 'made-by-hand');
  const { api } = await setup(keychain);
  const input = pgTarget('app-db', { credentials: { ...pgTarget('app-db').credentials, password: { from: 'keychain', get: 'secretless#app-db' } } });
  assert.equal((await bodyOf(api.saveTarget(input))).code, 'keychain_item_exists');
  const { keychainValues: _, ...reference } = input;
  await api.saveTarget(reference);
  assert.equal(keychain.items.get('secretless#app-db'), 'made-by-hand');
});

test('editing: the detail has references only; one password changes alone, without confirmation for its own item', async () => {
  const { api, keychain, configPath } = await setup();
  await api.saveTarget(pgTarget('app', { credentials: { ...pgTarget('app').credentials, sslrootcert: { literal: '/etc/ca.pem' } } }));
  writeFileSync(configPath, readFileSync(configPath, 'utf8').replace('username: app', 'username: app\n      sslpassword: literal-secret-in-file'));
  const detail = await api.getTarget('app');
  assert.deepEqual(detail.credentials, {
    host: { literal: 'db.internal' },
    username: { literal: 'app' },
    sslpassword: { keep: true },
    password: { from: 'keychain', get: 'secretless-desktop/app#password' },
    sslrootcert: { literal: '/etc/ca.pem' },
  });
  assert.deepEqual(detail.keychainItems, [{ key: 'password', id: 'secretless-desktop/app#password', sharedWith: [] }]);
  assert.ok(!JSON.stringify(detail).includes('pw-of-app') && !JSON.stringify(detail).includes('literal-secret-in-file'), 'no values');
  await api.saveTarget({ ...detail, previousName: 'app', keychainValues: { password: 'new-password' } });
  assert.equal(keychain.items.get('secretless-desktop/app#password'), 'new-password');
  const text = readFileSync(configPath, 'utf8');
  assert.match(text, /sslpassword: literal-secret-in-file/, 'the kept secret literal is still there');
  assert.match(text, /sslrootcert: \/etc\/ca\.pem/);
});

test('errors point at form fields, never at file lines', async () => {
  const { api } = await setup();
  const bad = await bodyOf(api.saveTarget(pgTarget('bad', { connector: 'pg', listenOn: 'tcp://127.0.0.1:0', credentials: { host: { literal: 'h' }, sslmode: { literal: 'sometimes' }, password: { from: 'keychain', get: 'x#y' } }, keychainValues: {} })));
  assert.equal(bad.status, 400);
  assert.equal(bad.code, 'invalid_input');
  assert.deepEqual(bad.fields?.map((f) => f.path).sort(), ['credentials', 'credentials.sslmode']);
  assert.doesNotMatch(bad.error, /line \d+/);
  const literalSecret = await bodyOf(api.saveTarget(pgTarget('lit', { credentials: { host: { literal: 'h' }, username: { literal: 'u' }, password: { literal: 'hunter2' } }, keychainValues: {} })));
  assert.deepEqual(literalSecret.fields?.map((f) => f.path), ['credentials.password']);
  assert.doesNotMatch(literalSecret.error, /hunter2/);
  const name = await bodyOf(api.saveTarget(pgTarget('has space')));
  assert.deepEqual(name.fields?.map((f) => f.path), ['name']);
});

test('templates: one per connector from the specs, with required, secret and default per field', async () => {
  const { api } = await setup();
  const templates = await api.connectorTemplates();
  assert.deepEqual(templates.map((t) => t.connector).sort(), connectorSpecs(builtinConnectors()).map((s) => s.name).sort());
  const byName = Object.fromEntries(templates.map((t) => [t.connector, t]));
  const field = (c: string, k: string) => byName[c]!.fields.find((f) => f.key === k);
  assert.equal(field('pg', 'port')?.default, '5432');
  assert.equal(field('mysql', 'port')?.default, '3306', 'MySQL has its own default port');
  assert.equal(field('pg', 'password')?.secret, true);
  assert.equal(field('pg', 'host')?.required, true);
  assert.equal(field('pg', 'database')?.section, 'config');
  assert.equal(byName.pg!.extraCredentials, true);
  assert.equal(field('ssh', 'privateKey')?.secret, true);
  assert.equal(field('ssh', 'hostAlias')?.section, 'config');
  assert.equal(field('ssh-tunnel', 'remotePort')?.required, true);
  assert.ok(byName['ssh-agent']!.listenOn.startsWith('unix://'));
  // A connector added later (http, with no form hints of its own) still gets a template from its spec.
  assert.ok(byName.http && byName.http.fields.length > 0, 'the http connector has a template');
});

test('delete: removes the target and, when asked, the keychain items only it used', async () => {
  const { api, keychain, configPath } = await setup();
  await api.saveTarget(pgTarget('a'));
  await api.saveTarget(pgTarget('b', { credentials: { ...pgTarget('b').credentials, password: { from: 'keychain', get: keychainIdFor('a', 'password') } }, keychainValues: {} }));
  await api.saveTarget(pgTarget('c'));
  const kept = await api.deleteTarget('a', { removeKeychainItems: true });
  assert.deepEqual(kept, { name: 'a', removedKeychainItems: [], keptKeychainItems: [{ id: 'secretless-desktop/a#password', usedBy: ['b'] }] });
  const removed = await api.deleteTarget('c', { removeKeychainItems: true });
  assert.deepEqual(removed.removedKeychainItems, ['secretless-desktop/c#password']);
  assert.ok(!keychain.items.has('secretless-desktop/c#password'));
  assert.deepEqual((await api.listTargets()).map((t) => t.name), ['b']);
  assert.doesNotMatch(readFileSync(configPath, 'utf8'), /^ {2}[ac]:/m);
  assert.equal((await bodyOf(api.deleteTarget('a'))).status, 404);
});
