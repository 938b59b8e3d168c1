// What the desktop UI offers to copy for a listening redis target: commands and a URL
// that redis-cli and the client libraries accept as they are (no user, no password).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TargetInfo } from '../../broker/api.js';
import { connectionStrings } from '../../broker/connection-strings.js';

const target = (address: string): TargetInfo => ({
  name: 'cache',
  connector: 'redis',
  listenOn: address,
  status: { state: 'listening', address },
  connections: 0,
  health: { type: 'listening' },
});

test('TCP: redis-cli -p PORT, redis://127.0.0.1:PORT/0, host:port', () => {
  assert.deepEqual(connectionStrings(target('tcp://127.0.0.1:16379')), [
    { id: 'redis-cli', label: 'redis-cli', value: 'redis-cli -p 16379' },
    { id: 'uri', label: 'redis URL', value: 'redis://127.0.0.1:16379/0' },
    { id: 'host-port', label: 'host:port', value: '127.0.0.1:16379' },
  ]);
});

test('Unix socket: redis-cli -s PATH', () => {
  assert.deepEqual(connectionStrings(target('unix:///run/user/1000/cache/redis.sock')), [
    { id: 'redis-cli', label: 'redis-cli', value: 'redis-cli -s /run/user/1000/cache/redis.sock' },
    { id: 'socket', label: 'socket', value: '/run/user/1000/cache/redis.sock' },
  ]);
});

