import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatListenAddress,
  isLoopbackHost,
  listenAddressesClash,
  parseListenAddress,
} from '../../broker/config/listen-address.js';

test('tcp:// with IPv4, [IPv6] and localhost', () => {
  assert.deepEqual(parseListenAddress('tcp://127.0.0.1:5432'), { type: 'tcp', host: '127.0.0.1', port: 5432 });
  assert.deepEqual(parseListenAddress('tcp://0.0.0.0:1'), { type: 'tcp', host: '0.0.0.0', port: 1 });
  assert.deepEqual(parseListenAddress('tcp://[::1]:65535'), { type: 'tcp', host: '::1', port: 65535 });
  assert.deepEqual(parseListenAddress('TCP://LocalHost:0'), { type: 'tcp', host: 'localhost', port: 0 });
  assert.deepEqual(parseListenAddress('tcp://[FE80::1]:22'), { type: 'tcp', host: 'fe80::1', port: 22 });
});

test('unix:// with an absolute path', () => {
  assert.deepEqual(parseListenAddress('unix:///sock/mysql.sock'), { type: 'unix', path: '/sock/mysql.sock' });
  assert.deepEqual(parseListenAddress('unix:///tmp//a/../pg.sock'), { type: 'unix', path: '/tmp/pg.sock' });
});

test('rejections say what is expected', () => {
  const cases: [string, RegExp][] = [
    ['127.0.0.1:5432', /expected tcp:\/\/HOST:PORT.*did you mean tcp:\/\/127\.0\.0\.1:5432\?/],
    [':5432', /did you mean tcp:\/\/127\.0\.0\.1:5432\?/],
    ['/tmp/pg.sock', /did you mean unix:\/\/\/tmp\/pg\.sock\?/],
    ['http://127.0.0.1:80', /unsupported scheme 'http:\/\/'/],
    ['tcp://127.0.0.1', /not of the form tcp:\/\/HOST:PORT/],
    ['tcp://127.0.0.1:5432/db', /port '5432\/db'/],
    ['tcp://:5432', /host is empty.*0\.0\.0\.0/],
    ['tcp://db.example.com:5432', /host 'db\.example\.com' is not allowed/],
    ['tcp://256.0.0.1:1', /not a valid IPv4 address/],
    ['tcp://010.0.0.1:1', /not a valid IPv4 address/],
    ['tcp://::1:5432', /IPv6 hosts go in brackets/],
    ['tcp://[::g]:1', /not an IPv6 address/],
    ['tcp://127.0.0.1:65536', /port '65536' is not a number from 1 to 65535/],
    ['tcp://127.0.0.1:-1', /port '-1'/],
    ['tcp://127.0.0.1:', /port ''/],
    ['unix://tmp/pg.sock', /not absolute.*three slashes/],
    ['unix:///tmp/', /names a directory/],
    [`unix:///${'x'.repeat(200)}`, /bytes long/],
  ];
  for (const [text, re] of cases) assert.throws(() => parseListenAddress(text), re, text);
});

test('isLoopbackHost', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', '0:0:0:0:0:0:0:1', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) {
    assert.equal(isLoopbackHost(h), true, h);
  }
  for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', '::2', '::ffff:10.0.0.1', 'example.com', 'fe80::1']) {
    assert.equal(isLoopbackHost(h), false, h);
  }
});

test('formatListenAddress round-trips', () => {
  for (const text of ['tcp://127.0.0.1:5432', 'tcp://[::1]:22', 'tcp://localhost:0', 'unix:///sock/mysql.sock']) {
    assert.equal(formatListenAddress(parseListenAddress(text)), text);
  }
});

test('listenAddressesClash', () => {
  const clash = (a: string, b: string) => listenAddressesClash(parseListenAddress(a), parseListenAddress(b));
  assert.equal(clash('tcp://127.0.0.1:5432', 'tcp://localhost:5432'), true);
  assert.equal(clash('tcp://[::1]:5432', 'tcp://localhost:5432'), true);
  assert.equal(clash('tcp://[::1]:5432', 'tcp://[0:0::1]:5432'), true);
  assert.equal(clash('tcp://0.0.0.0:5432', 'tcp://127.0.0.1:5432'), true);
  assert.equal(clash('unix:///a.sock', 'unix:///a.sock'), true);
  assert.equal(clash('tcp://127.0.0.1:0', 'tcp://127.0.0.1:0'), false);
  assert.equal(clash('tcp://127.0.0.1:5432', 'tcp://127.0.0.1:5433'), false);
  assert.equal(clash('tcp://127.0.0.1:5432', 'tcp://127.0.0.2:5432'), false);
  assert.equal(clash('unix:///a.sock', 'unix:///b.sock'), false);
});
