// Hostile and huge secretless.yml files: merge-key bombs, literal secrets that YAML reads
// as syntax, and configs with tens of thousands of services.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, MAX_ISSUES } from '../../broker/config/parse.js';
import type { ParseOptions } from '../../broker/config/parse.js';
import { createClashIndex, listenAddressesClash, parseListenAddress } from '../../broker/config/listen-address.js';
import { ConfigError } from '../../broker/config/types.js';
import { Alias } from 'yaml';
import { builtinConnectors, connectorSpecs } from '../../broker/connectors/registry.js';

const options: ParseOptions = { source: 'secretless.yml', connectors: connectorSpecs(builtinConnectors()), providers: ['env', 'file', 'keychain'] };

function errorOf(text: string): ConfigError {
  try {
    parseConfig(text, options);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected a ConfigError');
}

/** Each level merges the previous one ten times: 10^depth expansions when followed naively. */
function exponentialBomb(depth: number): string {
  let y = 'version: 2\nx0: &a0 {connector: pg}\n';
  for (let i = 1; i <= depth; i++) y += `x${i}: &a${i} {<<: [${new Array(10).fill(`*a${i - 1}`).join(', ')}]}\n`;
  return y + `services:\n  s:\n    <<: *a${depth}\n    listenOn: tcp://127.0.0.1:0\n    credentials: {host: h, username: u, password: {from: env, get: PW}}\n`;
}

test('merge-key bomb: a 1 KB file nesting merges 9 deep is read once per mapping (it hung check and the broker)', () => {
  const text = exponentialBomb(9);
  assert.ok(text.length < 1024);
  // Only the anchors' own top-level keys are wrong: the service got its merged connector.
  const err = errorOf(text);
  assert.deepEqual(err.issues.map((i) => i.path), ['x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8', 'x9']);
});

test('merge-key bomb: merging a large mapping into many services stops at the budget with an error naming key and line', () => {
  let y = 'version: 2\nx: &d\n';
  for (let i = 0; i < 2000; i++) y += `  k${i}: 1\n`;
  y += 'services:\n';
  for (let i = 0; i < 600; i++) y += `  s${i}: {<<: *d}\n`;
  const err = errorOf(y);
  const bomb = err.issues.find((i) => /merge keys \(<<\) copy more than/.test(i.message));
  assert.ok(bomb, err.message.slice(0, 2000));
  assert.match(bomb.path, /^services\.s\d+\.<<$/);
  assert.ok(bomb.line > 2003, `line ${bomb.line}`);
  assert.match(bomb.message, /merge\/alias bomb/);
  // Unknown keys in every service are counted, not all listed.
  assert.ok(err.issues.length <= MAX_ISSUES + 2);
  assert.match(err.issues.at(-1)!.message, /more problems not listed/);
});

test('a bomb in identities: or a service config: is refused by the alias limit, as a config error', () => {
  let y = 'version: 2\nservices: {}\nx0: &a0 {k: v}\n';
  for (let i = 1; i <= 6; i++) y += `x${i}: &a${i} {<<: [${new Array(10).fill(`*a${i - 1}`).join(', ')}]}\n`;
  const err = errorOf(y + 'identities:\n  corp: *a6\n');
  assert.ok(err.issues.some((i) => i.path === 'identities' && /could not read the value/.test(i.message)), err.message);
});

const SECRET = 'S3cretPw';
const literals = [`!${SECRET}`, `!!${SECRET}`, `*${SECRET}`, `|${SECRET}`, `>${SECRET}`, `- ${SECRET}`, `{${SECRET}}`, `"${SECRET}\\q"`, `@${SECRET}`, `\`${SECRET}`];

test('a literal password that YAML reads as syntax (!, !!, *, |, >, "- ") is never quoted in an error', () => {
  for (const literal of literals) {
    const text = `version: 2\nservices:\n  pg:\n    connector: pg\n    listenOn: tcp://127.0.0.1:0\n    credentials:\n      host: db\n      username: u\n      password: ${literal}\n`;
    const err = errorOf(text);
    assert.ok(!err.message.includes(SECRET), `${literal}: ${err.message}`);
    for (const issue of err.issues) {
      assert.equal(issue.line, 9, `${literal}: ${JSON.stringify(issue)}`);
      assert.match(issue.path, /^services\.pg\.credentials/);
    }
  }
});

test('the clash index finds the same first clash as comparing every pair', () => {
  const texts = ['tcp://127.0.0.1:5432', 'tcp://127.0.0.2:5432', 'tcp://localhost:5432', 'tcp://0.0.0.0:5432', 'tcp://[::1]:5432', 'tcp://[::]:5432',
    'tcp://[0:0:0:0:0:0:0:1]:5432', 'tcp://10.0.0.1:5432', 'tcp://127.0.0.1:5433', 'tcp://127.0.0.1:0', 'unix:///tmp/a.sock', 'unix:///tmp/b.sock'];
  const addresses = texts.map(parseListenAddress);
  // Every order of a few addresses, and every address as the one looked up.
  for (let seed = 0; seed < 200; seed++) {
    const rotated = [...addresses.slice(seed % addresses.length), ...addresses.slice(0, seed % addresses.length)];
    const picked = rotated.filter((_, i) => ((seed >> (i % 8)) & 1) === 0);
    const index = createClashIndex<number>();
    picked.forEach((a, i) => index.add(a, i));
    for (const probe of addresses) {
      const expected = picked.findIndex((a) => listenAddressesClash(a, probe));
      assert.equal(index.first(probe), expected === -1 ? undefined : expected, `${JSON.stringify(probe)} among ${JSON.stringify(picked)}`);
    }
  }
});

test('20,000 services with shared settings merged in, all on port 5432 of different loopback addresses, validate', () => {
  let y = 'version: 2\nx-pg: &pg\n  connector: pg\n  credentials: {host: db, username: u, password: {from: env, get: PW}}\nservices:\n';
  for (let i = 0; i < 20_000; i++) y += `  s${i}:\n    <<: *pg\n    listenOn: tcp://127.${(i >> 8) & 255}.${i & 255}.1:5432\n`;
  const err = errorOf(y + '  dup:\n    <<: *pg\n    listenOn: tcp://127.0.0.1:5432\n');
  assert.equal(err.issues.length, 2, err.message.slice(0, 500));
  assert.match(err.issues[0]!.path, /^x-pg$/);
  assert.match(err.issues[1]!.message, /already used by service 's0'/);
});

test('validation never walks the whole document once per alias (what made 20k services take 49 s)', () => {
  // yaml's Alias.resolve searches the document from the top on every call: calling it per
  // alias, as validation once did, is quadratic in the file. Count the calls while a file
  // with 2,000 aliases validates, and its anchors still resolve (an unknown one is an error).
  const resolve = Alias.prototype.resolve;
  let calls = 0;
  Alias.prototype.resolve = function (this: Alias, ...args: Parameters<typeof resolve>) {
    calls++;
    return resolve.apply(this, args);
  };
  try {
    let y = 'version: 2\nservices:\n  base:\n    connector: pg\n    listenOn: tcp://127.0.10.1:5432\n    credentials: &pg {host: db, username: u, password: {from: env, get: PW}}\n';
    for (let i = 0; i < 2_000; i++) y += `  s${i}:\n    connector: pg\n    listenOn: tcp://127.0.${i >> 8}.${i & 255}:5432\n    credentials: *pg\n`;
    assert.equal(parseConfig(y, options).services.length, 2_001);
    const err = errorOf(y + '  bad:\n    connector: pg\n    listenOn: tcp://127.0.9.9:5432\n    credentials: *nope\n');
    assert.match(err.message, /alias/);
  } finally {
    Alias.prototype.resolve = resolve;
  }
  assert.equal(calls, 0, `Alias.resolve called ${calls} times`);
});
