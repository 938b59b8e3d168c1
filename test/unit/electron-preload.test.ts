// The Electron preload bridge, run under Node with a stand-in for the `electron` module
// (only contextBridge and ipcRenderer are touched): it exposes exactly one function per
// BrokerApi method, each sending on its own channel, and refuses arguments the contract
// does not name before anything reaches the main process.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { BROKER_API_METHODS, type BrokerApi, type BrokerEvent } from '../../broker/api.js';
// Type-only: makes the build compile electron/preload.cts to dist/electron/preload.cjs.
import type * as _preload from '../../electron/preload.cjs';

const require = createRequire(import.meta.url);
const invoked: { channel: string; args: unknown[] }[] = [];
const sent: string[] = [];
const listeners = new Map<string, ((...a: unknown[]) => void)[]>();
let exposed: { name: string; api: BrokerApi } | undefined;

const fakeElectron = {
  contextBridge: { exposeInMainWorld: (name: string, api: BrokerApi) => void (exposed = { name, api }) },
  ipcRenderer: {
    invoke: async (channel: string, ...args: unknown[]) => (invoked.push({ channel, args }), 'ok'),
    send: (channel: string) => void sent.push(channel),
    on: (channel: string, fn: (...a: unknown[]) => void) => void listeners.set(channel, [...(listeners.get(channel) ?? []), fn]),
    removeListener: (channel: string, fn: (...a: unknown[]) => void) => void listeners.set(channel, (listeners.get(channel) ?? []).filter((f) => f !== fn)),
    listenerCount: (channel: string) => (listeners.get(channel) ?? []).length,
  },
};
// The real package throws without its binary; the preload only needs these two objects.
const electronPath = require.resolve('electron');
require.cache[electronPath] = { id: electronPath, filename: electronPath, loaded: true, exports: fakeElectron } as unknown as NodeJS.Module;
require('../../electron/preload.cjs');

test('window.secretless has exactly the BrokerApi methods, all functions', () => {
  assert.equal(exposed?.name, 'secretless');
  assert.deepEqual(Object.keys(exposed!.api).sort(), [...BROKER_API_METHODS].sort());
  for (const fn of Object.values(exposed!.api)) assert.equal(typeof fn, 'function');
});

test('each call goes to its own channel with checked arguments', async () => {
  const api = exposed!.api;
  invoked.length = 0;
  await api.listTargets();
  await api.startTarget('db');
  await api.stopTarget('db');
  await api.recentAudit({ service: 'db', limit: 5 });
  await api.recentAudit();
  await api.saveTarget({ name: 'db', connector: 'pg', listenOn: 'tcp://127.0.0.1:5433', credentials: { password: { from: 'env', get: 'PW' } } });
  await api.login('corp');
  await api.logout('corp');
  await api.listSessions();
  assert.deepEqual(
    invoked.map((i) => [i.channel, i.args.length]),
    [
      ['secretless:listTargets', 0],
      ['secretless:startTarget', 1],
      ['secretless:stopTarget', 1],
      ['secretless:recentAudit', 1],
      ['secretless:recentAudit', 0],
      ['secretless:saveTarget', 1],
      ['secretless:login', 1],
      ['secretless:logout', 1],
      ['secretless:listSessions', 0],
    ],
  );
});

test('arguments outside the contract are refused in the renderer process', async () => {
  const api = exposed!.api as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  invoked.length = 0;
  assert.throws(() => api.startTarget!(42), /non-empty string/);
  assert.throws(() => api.stopTarget!({ toString: () => 'db' }), /non-empty string/);
  assert.throws(() => api.login!(''), /non-empty string/);
  assert.throws(() => api.recentAudit!({ service: 'db', sql: 'drop' }), /unknown field 'sql'/);
  assert.throws(() => api.saveTarget!({ name: 'x', connector: 'pg', listenOn: 'tcp://127.0.0.1:1', credentials: {}, evil: true }), /unknown field 'evil'/);
  assert.throws(() => api.saveTarget!('x'), /must be an object/);
  assert.equal(invoked.length, 0, 'nothing was sent');
});

test('subscribe: events reach the listener; the last unsubscribe tells main', () => {
  const got: BrokerEvent[] = [];
  const off = exposed!.api.subscribe((e) => got.push(e));
  assert.deepEqual(sent, ['secretless:subscribe']);
  for (const fn of listeners.get('secretless:event') ?? []) fn({}, { type: 'target.stopped', name: 'db' });
  assert.deepEqual(got, [{ type: 'target.stopped', name: 'db' }]);
  off();
  assert.deepEqual(sent, ['secretless:subscribe', 'secretless:unsubscribe']);
  assert.throws(() => exposed!.api.subscribe('nope' as never), /needs a function/);
});
