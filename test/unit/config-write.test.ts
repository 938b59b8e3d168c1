// Adding and editing a target in secretless.yml: comments and other services survive,
// credentials are references only, keychain values go to the keychain, bad input
// leaves the file untouched.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { TargetInput } from '../../broker/api.js';
import { parseConfig } from '../../broker/config/parse.js';
import { writeTarget, type KeychainWriter } from '../../broker/config/write.js';
import { builtinConnectors, connectorSpecs } from '../../broker/connectors/registry.js';
import { ConfigError } from '../../broker/config/types.js';

const dir = mkdtempSync(join(tmpdir(), 'sd-write-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const parse = { connectors: connectorSpecs(builtinConnectors()), providers: ['env', 'file', 'keychain'] };
let n = 0;

const ORIGINAL = `# My brokers. Keep this comment.
version: "2"
services:
  # the reporting database
  reports:
    connector: pg
    listenOn: tcp://127.0.0.1:15433 # fixed port for DBeaver
    credentials:
      host: 10.0.0.5
      port: 5432
      username: reporter
      password:
        from: env
        get: REPORTS_PW
`;

function file(text = ORIGINAL): string {
  const path = join(dir, `s${n++}.yml`);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

const pgInput = (extra: Partial<TargetInput> = {}): TargetInput => ({
  name: 'app-db',
  connector: 'pg',
  listenOn: 'tcp://127.0.0.1:15432',
  credentials: {
    host: { literal: 'db.internal' },
    port: { literal: '5432' },
    username: { literal: 'app' },
    password: { from: 'keychain', get: 'secretless#app-db' },
  },
  ...extra,
});

function fakeKeychain(): KeychainWriter & { items: Map<string, string> } {
  const items = new Map<string, string>();
  return {
    items,
    async set(service, account, value) {
      items.set(`${service}#${account}`, value);
    },
    async exists(service, account) {
      return items.has(`${service}#${account}`);
    },
    async delete(service, account) {
      return items.delete(`${service}#${account}`);
    },
  };
}

test('adding a target keeps comments and the other services, and writes provider references', async () => {
  const path = file();
  const keychain = fakeKeychain();
  const config = await writeTarget(path, pgInput({ keychainValues: { password: 'hunter2-very-secret' } }), { parse, keychain });
  const text = readFileSync(path, 'utf8');
  assert.ok(text.startsWith('# My brokers. Keep this comment.\n'));
  assert.match(text, /# the reporting database\n  reports:/);
  assert.match(text, /listenOn: tcp:\/\/127\.0\.0\.1:15433 # fixed port for DBeaver/);
  assert.match(text, /  app-db:\n    connector: pg\n    listenOn: tcp:\/\/127\.0\.0\.1:15432\n    credentials:\n      host: db\.internal\n      port: 5432\n      username: app\n      password:\n        from: keychain\n        get: secretless#app-db\n/);
  assert.ok(!text.includes('hunter2'), 'the secret is not in the file');
  assert.equal(keychain.items.get('secretless#app-db'), 'hunter2-very-secret');
  assert.deepEqual(config.services.map((s) => s.name), ['reports', 'app-db']);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  // What was written parses as the broker reads it.
  const reread = parseConfig(text, { ...parse, source: path });
  assert.deepEqual(reread.services[1]!.credentials.password, { provider: 'keychain', id: 'secretless#app-db', line: reread.services[1]!.credentials.password!.line });
});

test('editing keeps the entry in place: a fixed port and a rename, credentials kept when none are given', async () => {
  const path = file();
  await writeTarget(path, { name: 'reporting', previousName: 'reports', connector: 'pg', listenOn: 'tcp://127.0.0.1:25433', credentials: {} }, { parse });
  const text = readFileSync(path, 'utf8');
  assert.match(text, /# the reporting database\n  reporting:\n    connector: pg\n    listenOn: tcp:\/\/127\.0\.0\.1:25433/);
  assert.match(text, /get: REPORTS_PW/);
  assert.ok(!/\n  reports:/.test(text));
  // A Unix socket instead, and new credentials replacing the old ones.
  await writeTarget(path, { name: 'reporting', previousName: 'reporting', connector: 'pg', listenOn: `unix://${dir}/.s.PGSQL.5432`, credentials: { host: { literal: 'h' }, username: { literal: 'u' }, password: { from: 'file', get: '/run/pw' } } }, { parse });
  const after = readFileSync(path, 'utf8');
  assert.match(after, new RegExp(`listenOn: unix://${dir}/\\.s\\.PGSQL\\.5432`));
  assert.ok(!after.includes('REPORTS_PW') && !after.includes('port: 5432'));
});

test('the example config (services: {}) becomes a block mapping', async () => {
  const path = file('# example\nversion: "2"\nservices: {}\n');
  await writeTarget(path, pgInput(), { parse });
  assert.match(readFileSync(path, 'utf8'), /^# example\nversion: "2"\nservices:\n  app-db:\n    connector: pg\n/);
});

test('refused: a literal secret, a duplicate name, an unknown edit, a bad keychain id, an invalid config', async () => {
  const path = file();
  const before = readFileSync(path, 'utf8');
  const keychain = fakeKeychain();
  await assert.rejects(writeTarget(path, pgInput({ credentials: { host: { literal: 'h' }, username: { literal: 'u' }, password: { literal: 'plaintext-pw' } } }), { parse, keychain }), /'password' is a secret/);
  await assert.rejects(writeTarget(path, pgInput({ name: 'reports' }), { parse }), /a target named 'reports' already exists/);
  await assert.rejects(writeTarget(path, pgInput({ previousName: 'nope' }), { parse }), /there is no target named 'nope'/);
  await assert.rejects(writeTarget(path, pgInput({ credentials: { ...pgInput().credentials, password: { from: 'keychain', get: 'no-hash' } } }), { parse }), /service#account/);
  await assert.rejects(writeTarget(path, pgInput({ listenOn: 'tcp://0.0.0.0:5432' }), { parse }), (err: unknown) => err instanceof ConfigError && /allowRemote/.test(err.message));
  await assert.rejects(writeTarget(path, pgInput({ name: 'bad name!' }), { parse }), /must be letters/);
  await assert.rejects(writeTarget(path, pgInput({ listenOn: 'tcp://127.0.0.1:15433' }), { parse, keychain }), ConfigError, 'clashes with reports');
  assert.equal(readFileSync(path, 'utf8'), before, 'the file is untouched');
  assert.equal(keychain.items.size, 0, 'nothing stored for a refused target');
  assert.ok(!existsSync(`${path}.tmp`));
});
