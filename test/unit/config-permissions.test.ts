// A config file other users can read must not hide literal secrets: the broker warns
// (check, start and reload), naming the credentials but never their values; the files the
// UI writes are the owner's only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadConfigSync, permissionWarning } from '../../broker/config/load.js';
import { writeTarget } from '../../broker/config/write.js';
import { builtinConnectors, connectorSpecs } from '../../broker/connectors/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'sl-perm-'));
const parse = { connectors: connectorSpecs(builtinConnectors()), providers: ['env', 'file', 'keychain'] };
const SECRET = 'hunter2-in-the-file';
const withLiteral = `version: 2
services:
  app:
    connector: pg
    listenOn: tcp://127.0.0.1:15432
    credentials:
      host: db
      username: app
      password: ${SECRET}
`;

function configFile(name: string, text: string, mode: number): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

test('a world- or group-readable config with a literal password gets a warning naming the key, not the value', () => {
  const open = configFile('open.yml', withLiteral, 0o644);
  const warning = permissionWarning(open, loadConfigSync(open, parse));
  assert.ok(warning);
  assert.match(warning, /open\.yml is readable by every user of this machine \(mode 0644\) and holds literal secrets \(services\.app\.credentials\.password\): run chmod 600/);
  assert.ok(!warning.includes(SECRET));
  const group = configFile('group.yml', withLiteral, 0o640);
  assert.match(permissionWarning(group, loadConfigSync(group, parse)) ?? '', /readable by its group \(mode 0640\)/);

  const closed = configFile('closed.yml', withLiteral, 0o600);
  assert.equal(permissionWarning(closed, loadConfigSync(closed, parse)), undefined);
  const refs = configFile('refs.yml', withLiteral.replace(SECRET, '{from: env, get: PW}'), 0o644);
  assert.equal(permissionWarning(refs, loadConfigSync(refs, parse)), undefined, 'host and username literals are not secrets');
});

test('check prints the warning and still succeeds', () => {
  const open = configFile('check.yml', withLiteral, 0o644);
  const r = spawnSync(process.execPath, [join(process.cwd(), 'bin', 'secretless-desktop.js'), 'check', '-f', open], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /ok, 1 service/);
  assert.match(r.stderr, /^warning: .*check\.yml is readable by every user .*services\.app\.credentials\.password/m);
  assert.ok(!(r.stdout + r.stderr).includes(SECRET));
});

test('a target saved from the UI leaves the config 0600, even if it was 0644', async () => {
  const path = configFile('ui.yml', 'version: 2\nservices: {}\n', 0o644);
  await writeTarget(path, { name: 'db', connector: 'pg', listenOn: 'tcp://127.0.0.1:15433', credentials: { host: { literal: 'db' }, username: { literal: 'u' }, password: { from: 'env', get: 'PW' } } }, { parse });
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.match(readFileSync(path, 'utf8'), /db:/);
});
