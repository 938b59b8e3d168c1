// The ssh2 private fields the SSH connectors use (broker/ssh/ssh2-internals.ts) are
// where the accessors expect them in the installed ssh2, and ssh2 is pinned to the
// exact version they were written for, so an upgrade is a deliberate change that this
// test (and the same check at `serve` startup) vets.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkSsh2Internals, SSH2_VERSION } from '../../broker/ssh/ssh2-internals.js';

test('the installed ssh2 has every private field the broker reaches into', async () => {
  await checkSsh2Internals();
});

test('package.json pins ssh2 to the exact version the accessors were written for', () => {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { dependencies: Record<string, string> };
  assert.equal(pkg.dependencies.ssh2, SSH2_VERSION);
});
