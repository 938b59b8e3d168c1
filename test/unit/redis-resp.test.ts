// The RESP codec: replies (RESP2 and RESP3) parsed whole or not at all at every offset,
// garbage rejected, Redis's own integer and inline-word rules.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeCommand, encodeError, parseReply, replyFields, RespProtocolError, splitArgs, string2ll, type RespValue } from '../../broker/connectors/redis/resp.js';

const b = (s: string) => Buffer.from(s, 'latin1');

const samples: [string, RespValue][] = [
  ['+OK\r\n', { type: 'simple', value: 'OK' }],
  ['-WRONGPASS invalid username-password pair\r\n', { type: 'error', value: 'WRONGPASS invalid username-password pair' }],
  [':-42\r\n', { type: 'integer', value: -42n }],
  ['$5\r\na\r\nbc\r\n', { type: 'bulk', value: b('a\r\nbc') }],
  ['$-1\r\n', { type: 'null' }],
  ['*-1\r\n', { type: 'null' }],
  ['*2\r\n$1\r\na\r\n:1\r\n', { type: 'array', value: [{ type: 'bulk', value: b('a') }, { type: 'integer', value: 1n }] }],
  ['%1\r\n+proto\r\n:3\r\n', { type: 'map', value: [[{ type: 'simple', value: 'proto' }, { type: 'integer', value: 3n }]] }],
  ['>2\r\n+invalidate\r\n*1\r\n$1\r\nk\r\n', { type: 'push', value: [{ type: 'simple', value: 'invalidate' }, { type: 'array', value: [{ type: 'bulk', value: b('k') }] }] }],
  ['_\r\n', { type: 'null' }],
  ['#t\r\n', { type: 'scalar', value: 't' }],
  [',1.5\r\n', { type: 'scalar', value: '1.5' }],
  ['!3\r\nERR\r\n', { type: 'error', value: 'ERR' }],
  ['=7\r\ntxt:abc\r\n', { type: 'bulk', value: b('txt:abc') }],
  ['|1\r\n+a\r\n+b\r\n+after\r\n', { type: 'simple', value: 'after' }],
];

test('every reply type parses whole, and is incomplete (null) at every shorter length', () => {
  for (const [wire, value] of samples) {
    const buf = b(wire + '+next\r\n');
    const r = parseReply(buf);
    assert.deepEqual(r, { value, consumed: wire.length }, wire);
    for (let len = 0; len < wire.length; len++) assert.equal(parseReply(buf.subarray(0, len)), null, `${JSON.stringify(wire)} cut at ${len}`);
  }
});

test('garbage replies are protocol errors, not hangs or crashes', () => {
  for (const wire of ['?\r\n', '+OK\rX', ':12a\r\n', '$-2x\r\n', '*abc\r\n', '$01\r\na\r\n']) assert.throws(() => parseReply(b(wire)), RespProtocolError, wire);
  let deep = '';
  for (let i = 0; i < 100; i++) deep += '*1\r\n';
  assert.throws(() => parseReply(b(deep + ':1\r\n')), RespProtocolError);
  assert.throws(() => parseReply(Buffer.alloc(70_000, 0x2b)), RespProtocolError, 'a line without end');
});

test('commands and error lines encode as clients and servers send them', () => {
  assert.equal(encodeCommand(['SET', 'k', Buffer.from('v\r\n')]).toString(), '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n');
  assert.equal(encodeError('ERR', 'a\r\nb\nc').toString(), '-ERR a b c\r\n');
});

test('HELLO replies read the same from a RESP2 flat array and a RESP3 map', () => {
  const two = parseReply(b('*4\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n'))!.value;
  const three = parseReply(b('%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n'))!.value;
  for (const v of [two, three]) assert.deepEqual(replyFields(v).get('version'), { type: 'bulk', value: b('7.0.15') });
});

test("string2ll follows Redis: no leading zeros, no '+', at most 20 characters, 64-bit range", () => {
  const v = (s: string) => string2ll(b(s), 0, s.length);
  assert.equal(v('0'), 0n);
  assert.equal(v('-12'), -12n);
  assert.equal(v('9223372036854775807'), 9223372036854775807n);
  assert.equal(v('-9223372036854775808'), -9223372036854775808n);
  for (const bad of ['', '-', '01', '-0', '+1', '1 ', '9223372036854775808', '1x', '000000000000000000001']) assert.equal(v(bad), null, bad);
});

test('splitArgs follows sdssplitargs: quotes, escapes, closing-quote rule, NUL ends the line', () => {
  const words = (s: string) => splitArgs(b(s))?.map((x) => x.toString('latin1')) ?? null;
  assert.deepEqual(words('  set  k   v '), ['set', 'k', 'v']);
  assert.deepEqual(words('a "b c" \'d e\''), ['a', 'b c', 'd e']);
  assert.deepEqual(words('"\\x41\\x4g\\n\\t\\q"'), ['Ax4g\n\tq']);
  assert.deepEqual(words("'it\\'s' \"\""), ["it's", '']);
  assert.deepEqual(words('a\tb\x0bc'), ['a', 'b\x0bc']);
  assert.deepEqual(words('a\0b c'), ['a']);
  for (const bad of ['"abc', '"a"b', "'a'b", "'abc", 'x "a\\"']) assert.equal(words(bad), null, bad);
});
