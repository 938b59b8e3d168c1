import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffServices } from '../../broker/config/diff.js';
import { parseConfig } from '../../broker/config/parse.js';

const options = {
  source: 'secretless.yml',
  connectors: [{ name: 'pg', requiredCredentials: [], knownCredentials: 'any' as const, configKeys: ['sslmode'] }],
  providers: ['env'],
};

const svc = (name: string, port: number, extra: string[] = []) => [
  `  ${name}:`,
  '    connector: pg',
  `    listenOn: tcp://127.0.0.1:${port}`,
  ...extra,
];
const cfg = (...lines: string[]) => parseConfig(['version: 2', 'services:', ...lines].join('\n') + '\n', options);

test('diffServices sorts services into added, removed, changed and unchanged, ignoring lines', () => {
  const before = cfg(
    ...svc('same', 5432, ['    credentials:', '      password: {from: env, get: PW}', '    config: {sslmode: require}']),
    ...svc('port', 5433),
    ...svc('cred', 5434, ['    credentials: {password: {from: env, get: A}}']),
    ...svc('gone', 5435),
  );
  const after = cfg(
    '  # a comment shifts every line below',
    ...svc('new', 6000),
    ...svc('cred', 5434, ['    credentials: {password: {from: env, get: B}}']),
    ...svc('port', 5440),
    ...svc('same', 5432, ['    config: {sslmode: require}', '    credentials:', '      password: {from: env, get: PW}']),
  );
  const d = diffServices(before, after);
  const names = (list: { name: string }[]) => list.map((s) => s.name);
  assert.deepEqual(names(d.added), ['new']);
  assert.deepEqual(names(d.removed), ['gone']);
  assert.deepEqual(names(d.changed), ['cred', 'port']);
  assert.deepEqual(names(d.unchanged), ['same']);
  // Changed and unchanged entries are the new versions.
  assert.equal(d.changed[1]!.listenOn.type === 'tcp' && d.changed[1]!.listenOn.port, 5440);
  assert.equal(d.unchanged[0], after.services.find((s) => s.name === 'same'));
});

test('diffServices: config values, allowRemote and literal vs provider count as changes', () => {
  const base = cfg(...svc('a', 1, ['    config: {sslmode: require}']), ...svc('b', 2, ['    credentials: {user: PW}']));
  const next = cfg(...svc('a', 1, ['    config: {sslmode: disable}']), ...svc('b', 2, ['    credentials: {user: {from: env, get: PW}}']));
  assert.deepEqual(diffServices(base, next).changed.map((s) => s.name), ['a', 'b']);
  assert.deepEqual(diffServices(base, base).unchanged.length, 2);
  const remote = cfg(...svc('a', 1, ['    config: {sslmode: require}', '    allowRemote: true']), ...svc('b', 2, ['    credentials: {user: PW}']));
  assert.deepEqual(diffServices(base, remote).changed.map((s) => s.name), ['a']);
});
