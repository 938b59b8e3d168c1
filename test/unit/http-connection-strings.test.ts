// What the desktop UI offers to copy for a listening http-family target: a reverse proxy
// is called at the broker's address (curl, a base URL, the aws CLI's --endpoint-url); a
// forward proxy is set as http_proxy.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TargetInfo } from '../../broker/api.js';
import { connectionStrings } from '../../broker/connection-strings.js';

const target = (connector: string, upstream?: string): TargetInfo => ({
  name: 'api',
  connector,
  listenOn: 'tcp://127.0.0.1:8080',
  status: { state: 'listening', address: 'tcp://127.0.0.1:8080' },
  connections: 0,
  health: { type: 'listening' },
  ...(upstream ? { upstream } : {}),
});

test('reverse proxy: curl and the base URL; aws adds --endpoint-url', () => {
  assert.deepEqual(connectionStrings(target('http', 'https://api.example.com')), [
    { id: 'curl', label: 'curl', value: 'curl http://127.0.0.1:8080/' },
    { id: 'uri', label: 'base URL', value: 'http://127.0.0.1:8080/' },
  ]);
  assert.equal(connectionStrings(target('aws', 'https://s3.eu-west-1.amazonaws.com'))[0]!.value, 'aws --no-sign-request --endpoint-url http://127.0.0.1:8080');
});

test('forward proxy (Secretless connectors without upstream): http_proxy', () => {
  for (const c of ['generic_http', 'basic_auth', 'http']) {
    assert.deepEqual(connectionStrings(target(c))[0], { id: 'http_proxy', label: 'http_proxy', value: 'export http_proxy=http://127.0.0.1:8080' });
  }
});
