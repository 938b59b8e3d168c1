// The editor's model: keychain references follow the target name (two new targets never
// share an item by default), switching connector brings that connector's defaults, an
// edit shows each credential's reference and changes only what the user touched, and
// problems are reported per field path.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConnectorTemplate, TemplateField } from '../../broker/api.js';
import { buildInput, controlId, formFromDetail, newForm, rename, sourcesFor, switchConnector } from '../../renderer/src/form-model.js';

const f = (key: string, extra: Partial<TemplateField> = {}): TemplateField => ({ key, section: 'credentials', label: key, required: false, secret: false, kind: 'text', ...extra });
const db = (connector: string, port: string): ConnectorTemplate => ({
  connector,
  label: connector,
  listenOn: 'tcp://127.0.0.1:0',
  extraCredentials: connector === 'pg',
  fields: [f('host', { required: true, default: '127.0.0.1' }), f('port', { default: port, kind: 'number' }), f('username', { required: true }), f('password', { secret: true }), f('database', { section: 'config' })],
});
const pg = db('pg', '5432');
const mysql = db('mysql', '3306');

test('a new target keeps its secret under a keychain item named after it, not a shared default', () => {
  const a = rename(newForm(pg), 'app-db');
  const b = rename(newForm(pg), 'reports');
  const ref = (s: typeof a) => s.creds.find((c) => c.key === 'password')!;
  assert.equal(ref(a).source, 'keychain');
  assert.equal(ref(a).value, 'secretless-desktop/app-db#password');
  assert.equal(ref(b).value, 'secretless-desktop/reports#password');
  // A reference the user typed stays when the name changes.
  const typed = { ...a, creds: a.creds.map((c) => (c.key === 'password' ? { ...c, value: 'team#shared', refEdited: true } : c)) };
  assert.equal(ref(rename(typed, 'app-db-2')).value, 'team#shared');
  // A secret is never offered as a literal.
  assert.deepEqual(sourcesFor(pg.fields[3], 'keychain'), ['keychain', 'env', 'file']);
});

test('switching to MySQL brings its defaults; what the user typed stays', () => {
  let s = rename(newForm(pg), 'shop');
  s = { ...s, creds: s.creds.map((c) => (c.key === 'username' ? { ...c, value: 'shop' } : c)) };
  const m = switchConnector(s, pg, mysql);
  const value = (k: string) => m.creds.find((c) => c.key === k)!.value;
  assert.equal(m.connector, 'mysql');
  assert.equal(value('port'), '3306');
  assert.equal(value('username'), 'shop');
  assert.equal(value('password'), 'secretless-desktop/shop#password');
});

test('editing shows every reference, keeps hidden literal secrets, and submits only what changed', () => {
  const detail = {
    name: 'app-db',
    connector: 'pg',
    listenOn: 'tcp://127.0.0.1:15432',
    credentials: { host: { literal: 'db.internal' }, username: { from: 'env', get: 'DB_USER' }, password: { from: 'keychain', get: 'team#app' }, application_name: { keep: true as const } },
    config: { database: 'app' },
    keychainItems: [{ key: 'password', id: 'team#app', sharedWith: ['reports'] }],
  };
  const s = formFromDetail(detail, pg, false);
  assert.equal(s.port, '15432');
  assert.deepEqual(s.creds.map((c) => `${c.key}:${c.source}:${c.value}`), ['host:value:db.internal', 'port:value:', 'username:env:DB_USER', 'password:keychain:team#app', 'application_name:keep:']);
  const built = buildInput(s, pg, 'app-db');
  assert.ok(built.ok);
  assert.deepEqual(built.input.credentials, { host: { literal: 'db.internal' }, username: { from: 'env', get: 'DB_USER' }, password: { from: 'keychain', get: 'team#app' }, application_name: { keep: true } });
  assert.equal(built.input.keychainValues, undefined, 'no secret typed: the stored one stays');
  assert.deepEqual(built.input.config, { database: 'app' });
  assert.equal(built.input.previousName, 'app-db');
  // Duplicate: a new name and listener, the same references.
  const copy = formFromDetail(detail, pg, true);
  assert.equal(copy.name, 'app-db-copy');
  assert.equal(copy.port, '');
});

test('an optional secret left alone is not referenced; a typed one is stored under its item', () => {
  let s = rename(newForm(pg), 'trusty');
  s = { ...s, creds: s.creds.map((c) => (c.key === 'username' ? { ...c, value: 'app' } : c)) };
  const without = buildInput(s, pg);
  assert.ok(without.ok);
  assert.equal(without.input.credentials.password, undefined);
  s = { ...s, creds: s.creds.map((c) => (c.key === 'password' ? { ...c, secret: 'typed' } : c)) };
  const withSecret = buildInput(s, pg);
  assert.ok(withSecret.ok);
  assert.deepEqual(withSecret.input.credentials.password, { from: 'keychain', get: 'secretless-desktop/trusty#password' });
  assert.deepEqual(withSecret.input.keychainValues, { password: 'typed' });
});

test('problems point at the field: name, listener, a required credential', () => {
  let s = newForm(pg);
  s = { ...s, port: '99999' };
  const built = buildInput(s, pg);
  assert.ok(!built.ok);
  assert.deepEqual(built.fields.map((p) => p.path), ['name', 'credentials.username', 'listenOn']);
  assert.equal(controlId('credentials.username'), 'f-cred-username');
  assert.equal(controlId('config.database'), 'f-config-database');
  assert.equal(controlId('listenOn'), 'f-listen');
});
