// Arguments from outside (control API bodies, Electron IPC) are checked against the
// BrokerApi contract: only named methods, arities and fields get through.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BROKER_API_METHODS } from '../../broker/api.js';
import { CALL_METHODS, validateArgs } from '../../broker/control/validate.js';

test('every BrokerApi method but subscribe is callable; nothing else', () => {
  assert.deepEqual([...CALL_METHODS, 'subscribe'].sort(), [...BROKER_API_METHODS].sort());
  for (const bad of ['constructor', '__proto__', 'toString', 'subscribe', 'close', 'listtargets']) {
    assert.throws(() => validateArgs(bad, []), /unknown method/);
  }
});

test('arity and types', () => {
  assert.deepEqual(validateArgs('listTargets', []), []);
  assert.throws(() => validateArgs('listTargets', ['x']), /takes 0 arguments/);
  assert.deepEqual(validateArgs('startTarget', ['db']), ['db']);
  assert.throws(() => validateArgs('startTarget', []), /non-empty string/);
  assert.throws(() => validateArgs('stopTarget', [{ name: 'db' }]), /non-empty string/);
  assert.throws(() => validateArgs('login', ['a', 'b']), /takes 1 argument/);
  assert.throws(() => validateArgs('startTarget', 'db'), /args must be an array/);
});

test('audit queries: known fields and values only', () => {
  assert.deepEqual(validateArgs('recentAudit', []), [{}]);
  assert.deepEqual(validateArgs('recentAudit', [{ service: 'db', outcome: 'failed', limit: 10 }]), [{ service: 'db', outcome: 'failed', limit: 10 }]);
  assert.throws(() => validateArgs('recentAudit', [{ outcome: 'maybe' }]), /outcome/);
  assert.throws(() => validateArgs('recentAudit', [{ limit: 1e9 }]), /limit/);
  assert.throws(() => validateArgs('recentAudit', [{ where: '1=1' }]), /unknown field 'where'/);
});

test('target input: fields of the contract only, credentials as references or literals, a fresh object', () => {
  const input = {
    name: 'db',
    connector: 'pg',
    listenOn: 'tcp://127.0.0.1:5433',
    credentials: { host: { literal: 'h' }, password: { from: 'keychain', get: 'secretless#db' } },
    keychainValues: { password: 's3cret' },
  };
  const [out] = validateArgs('saveTarget', [input]);
  assert.deepEqual(out, input);
  assert.notEqual(out, input);
  assert.throws(() => validateArgs('saveTarget', [{ ...input, admin: true }]), /unknown field 'admin'/);
  assert.throws(() => validateArgs('saveTarget', [{ ...input, credentials: { password: { from: 'env', get: 'X', value: 'y' } } }]), /unknown field 'value'/);
  assert.throws(() => validateArgs('saveTarget', [{ ...input, credentials: { host: 'h' } }]), /must be an object/);
  assert.throws(() => validateArgs('saveTarget', [{ ...input, keychainValues: { password: 42 } }]), /non-empty string/);
  assert.throws(() => validateArgs('saveTarget', [{ ...input, name: '' }]), /name must be/);
});
