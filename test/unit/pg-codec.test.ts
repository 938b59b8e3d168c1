// The PostgreSQL v3 codec: startup packets, typed messages and the backend messages the
// broker interprets during authentication, checked byte for byte against the protocol
// documentation (https://www.postgresql.org/docs/current/protocol-message-formats.html).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CANCEL_REQUEST_CODE,
  GSSENC_REQUEST_CODE,
  MAX_AUTH_PHASE_MESSAGE_LENGTH,
  MAX_STARTUP_PACKET_LENGTH,
  PROTOCOL_3_0,
  PgProtocolError,
  SSL_REQUEST_CODE,
  decodeAuthRequest,
  decodeBackendKeyData,
  decodeErrorFields,
  encodeCancelRequest,
  encodeErrorResponse,
  encodeSslRequest,
  encodeStartup,
  parseMessage,
  parseStartupPacket,
} from '../../broker/connectors/pg/codec.js';

// ---- helpers: build wire bytes by hand, independently of the encoders ----

/** Int32 length (including itself) + int32 code + body: an untyped startup-phase packet. */
function untyped(code: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(8 + body.length);
  out.writeInt32BE(out.length, 0);
  out.writeInt32BE(code, 4);
  body.copy(out, 8);
  return out;
}

/** Type byte + int32 length (including itself, not the type) + body. */
function typedMsg(type: string, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.write(type, 0, 'latin1');
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n, 0);
  return b;
}

function cstrings(...parts: string[]): Buffer {
  return Buffer.concat(parts.map((p) => Buffer.from(p + '\0', 'utf8')));
}

function throwsPg(fn: () => unknown, kind: 'malformed' | 'too-large' | 'bad-length', message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof PgProtocolError, `expected PgProtocolError, got ${String(err)}`);
    assert.equal(err.kind, kind);
    if (message) assert.match(err.message, message);
    return true;
  });
}

// ---- parseStartupPacket ----

test('SSLRequest: 8 bytes, code 80877103', () => {
  const wire = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
  assert.equal(wire.readInt32BE(4), 80877103);
  assert.deepEqual(parseStartupPacket(wire), { value: { type: 'ssl-request' }, consumed: 8 });
  assert.deepEqual(encodeSslRequest(), wire);
  assert.equal(SSL_REQUEST_CODE, 80877103);
});

test('GSSENCRequest: 8 bytes, code 80877104', () => {
  const wire = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]);
  assert.equal(GSSENC_REQUEST_CODE, 80877104);
  assert.deepEqual(parseStartupPacket(wire), { value: { type: 'gssenc-request' }, consumed: 8 });
});

test('SSLRequest / GSSENCRequest with a body are malformed', () => {
  throwsPg(() => parseStartupPacket(untyped(SSL_REQUEST_CODE, Buffer.from([0]))), 'malformed');
  throwsPg(() => parseStartupPacket(untyped(GSSENC_REQUEST_CODE, Buffer.alloc(4))), 'malformed');
});

test('only the first packet is consumed: an SSLRequest followed by other bytes', () => {
  const wire = Buffer.concat([encodeSslRequest(), Buffer.from('trailing data belongs to the next read')]);
  const parsed = parseStartupPacket(wire);
  assert.deepEqual(parsed, { value: { type: 'ssl-request' }, consumed: 8 });
});

test('CancelRequest with a protocol 3.0 4-byte key', () => {
  const wire = untyped(CANCEL_REQUEST_CODE, Buffer.concat([int32(4242), Buffer.from([0xde, 0xad, 0xbe, 0xef])]));
  assert.equal(wire.length, 16);
  const parsed = parseStartupPacket(wire);
  assert.ok(parsed);
  assert.equal(parsed.consumed, 16);
  assert.equal(parsed.value.type, 'cancel-request');
  assert.ok(parsed.value.type === 'cancel-request');
  assert.equal(parsed.value.pid, 4242);
  assert.deepEqual(parsed.value.secret, Buffer.from([0xde, 0xad, 0xbe, 0xef]));
});

test('CancelRequest with a longer protocol 3.2 key (32 bytes, and the 256-byte maximum)', () => {
  for (const keyLen of [32, 256]) {
    const key = Buffer.alloc(keyLen, 0).map((_, i) => (i * 7 + 3) & 0xff);
    const wire = untyped(CANCEL_REQUEST_CODE, Buffer.concat([int32(7), key]));
    const parsed = parseStartupPacket(wire);
    assert.ok(parsed && parsed.value.type === 'cancel-request', `key of ${keyLen} bytes`);
    assert.equal(parsed.consumed, 12 + keyLen);
    assert.equal(parsed.value.pid, 7);
    assert.deepEqual(parsed.value.secret, Buffer.from(key));
    // The encoder produces the same bytes.
    assert.deepEqual(encodeCancelRequest(7, Buffer.from(key)), wire);
  }
});

test('CancelRequest: the secret is a copy, not a view of the receive buffer', () => {
  const wire = untyped(CANCEL_REQUEST_CODE, Buffer.concat([int32(1), Buffer.from([1, 2, 3, 4])]));
  const parsed = parseStartupPacket(wire);
  assert.ok(parsed && parsed.value.type === 'cancel-request');
  wire.fill(0);
  assert.deepEqual(parsed.value.secret, Buffer.from([1, 2, 3, 4]));
});

test('CancelRequest: too short or a key over 256 bytes is malformed', () => {
  throwsPg(() => parseStartupPacket(untyped(CANCEL_REQUEST_CODE, int32(1))), 'malformed', /cancel/);
  throwsPg(() => parseStartupPacket(untyped(CANCEL_REQUEST_CODE, Buffer.alloc(7))), 'malformed', /cancel/);
  throwsPg(() => parseStartupPacket(untyped(CANCEL_REQUEST_CODE, Buffer.concat([int32(1), Buffer.alloc(257)]))), 'malformed', /cancel/);
});

test('startup message: parameters round-trip through encodeStartup', () => {
  const params: [string, string][] = [
    ['user', 'alice'],
    ['database', 'orders'],
    ['application_name', 'psql'],
    ['client_encoding', 'UTF8'],
    ['options', '-c search_path=public'],
    ['ünïcode', 'välue ✓'],
    ['empty', ''],
  ];
  const wire = encodeStartup(params);
  // Layout: length, protocol 3.0 (196608 = 0x00030000), name/value C strings, final NUL.
  assert.equal(wire.readInt32BE(0), wire.length);
  assert.equal(wire.readInt32BE(4), 196608);
  assert.equal(PROTOCOL_3_0, 196608);
  assert.equal(wire[wire.length - 1], 0);
  assert.equal(wire[wire.length - 2], 0); // the last value ('') is empty, then the list terminator
  assert.deepEqual(wire.subarray(8), Buffer.concat([cstrings(...params.flat()), Buffer.from([0])]));

  const parsed = parseStartupPacket(wire);
  assert.ok(parsed && parsed.value.type === 'startup');
  assert.equal(parsed.consumed, wire.length);
  assert.equal(parsed.value.protocol, PROTOCOL_3_0);
  assert.deepEqual([...parsed.value.params], params); // order is preserved, too
});

test('startup message with no parameters and with a protocol 3.2 minor version', () => {
  const none = parseStartupPacket(encodeStartup([]));
  assert.ok(none && none.value.type === 'startup');
  assert.equal(none.value.params.size, 0);
  assert.equal(none.consumed, 9);

  const v32 = (3 << 16) | 2;
  const parsed = parseStartupPacket(encodeStartup([['user', 'bob']], v32));
  assert.ok(parsed && parsed.value.type === 'startup');
  assert.equal(parsed.value.protocol, v32);
  assert.equal(parsed.value.params.get('user'), 'bob');
});

test('incomplete input returns null at every truncation point', () => {
  const packets = [
    encodeSslRequest(),
    untyped(GSSENC_REQUEST_CODE),
    encodeCancelRequest(99, Buffer.alloc(32, 5)),
    encodeStartup([['user', 'alice'], ['database', 'db']]),
  ];
  for (const wire of packets) {
    for (let n = 0; n < wire.length; n++) {
      assert.equal(parseStartupPacket(wire.subarray(0, n)), null, `${n} of ${wire.length} bytes`);
    }
    assert.ok(parseStartupPacket(wire), 'the whole packet parses');
  }
});

test('startup packet length below 8 is a bad length (once the length word is there)', () => {
  for (const len of [0, 4, 7, -1, -2147483648]) {
    const wire = Buffer.alloc(8);
    wire.writeInt32BE(len, 0);
    throwsPg(() => parseStartupPacket(wire), 'bad-length', /invalid length/);
    // Even with only the four length bytes received, it fails fast rather than waiting.
    throwsPg(() => parseStartupPacket(wire.subarray(0, 4)), 'bad-length');
  }
});

test('startup packet length above 10000 is a bad length before the body arrives', () => {
  assert.equal(MAX_STARTUP_PACKET_LENGTH, 10_000);
  const head = Buffer.alloc(8);
  head.writeInt32BE(10_001, 0);
  head.writeInt32BE(PROTOCOL_3_0, 4);
  throwsPg(() => parseStartupPacket(head), 'bad-length', /10000/);
  throwsPg(() => parseStartupPacket(head.subarray(0, 4)), 'bad-length');
  head.writeInt32BE(0x7fffffff, 0);
  throwsPg(() => parseStartupPacket(head), 'bad-length');

  // Exactly 10000 bytes is still accepted.
  const filler = 'x'.repeat(10_000 - 8 - 'user\0\0'.length - 'pad\0'.length - 2); // value NUL + list terminator
  const max = encodeStartup([['user', ''], ['pad', filler]]);
  assert.equal(max.length, 10_000);
  const parsed = parseStartupPacket(max);
  assert.ok(parsed && parsed.value.type === 'startup');
  assert.equal(parsed.value.params.get('pad'), filler);
});

test('protocol 2.0 (and 4.x, 1.x) is refused with a clear message', () => {
  throwsPg(() => parseStartupPacket(encodeStartup([['user', 'a']], 2 << 16)), 'malformed', /unsupported frontend protocol 2\.0/);
  throwsPg(() => parseStartupPacket(encodeStartup([['user', 'a']], 4 << 16)), 'malformed', /4\.0/);
  throwsPg(() => parseStartupPacket(encodeStartup([['user', 'a']], (1 << 16) | 5)), 'malformed', /1\.5/);
});

test('a parameter given twice is malformed', () => {
  const wire = encodeStartup([['user', 'alice'], ['database', 'x'], ['user', 'mallory']]);
  throwsPg(() => parseStartupPacket(wire), 'malformed', /'user' given twice/);
});

test('unterminated parameters are malformed', () => {
  // No NUL at all.
  throwsPg(() => parseStartupPacket(untyped(PROTOCOL_3_0, Buffer.from('user'))), 'malformed');
  // A name with no value.
  throwsPg(() => parseStartupPacket(untyped(PROTOCOL_3_0, Buffer.from('user\0alice'))), 'malformed');
  // Name and value but no list terminator.
  throwsPg(() => parseStartupPacket(untyped(PROTOCOL_3_0, cstrings('user', 'alice'))), 'malformed');
  // An empty body (no terminator either).
  throwsPg(() => parseStartupPacket(untyped(PROTOCOL_3_0)), 'malformed');
});

test('trailing bytes after the parameter list terminator are malformed', () => {
  const body = Buffer.concat([cstrings('user', 'alice'), Buffer.from([0]), Buffer.from('junk')]);
  throwsPg(() => parseStartupPacket(untyped(PROTOCOL_3_0, body)), 'malformed', /trailing/);
  const extraNul = Buffer.concat([cstrings('user', 'alice'), Buffer.from([0, 0])]);
  throwsPg(() => parseStartupPacket(untyped(PROTOCOL_3_0, extraNul)), 'malformed', /trailing/);
});

// ---- parseMessage ----

test('parseMessage: one typed message, raw bytes kept for relaying', () => {
  const body = cstrings('server_version', '16.2');
  const wire = Buffer.concat([typedMsg('S', body), Buffer.from('Z')]);
  const parsed = parseMessage(wire);
  assert.ok(parsed);
  assert.equal(parsed.consumed, 5 + body.length);
  assert.equal(parsed.value.type, 'S');
  assert.deepEqual(parsed.value.body, body);
  assert.deepEqual(parsed.value.raw, typedMsg('S', body));
});

test('parseMessage: an empty-bodied message (length 4)', () => {
  const parsed = parseMessage(Buffer.from([0x49, 0, 0, 0, 4])); // 'I' EmptyQueryResponse
  assert.ok(parsed);
  assert.equal(parsed.value.type, 'I');
  assert.equal(parsed.value.body.length, 0);
  assert.equal(parsed.consumed, 5);
});

test('parseMessage: incomplete input returns null at every truncation point', () => {
  const wire = typedMsg('R', Buffer.concat([int32(10), cstrings('SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'), Buffer.from([0])]));
  for (let n = 0; n < wire.length; n++) assert.equal(parseMessage(wire.subarray(0, n)), null, `${n} bytes`);
  assert.ok(parseMessage(wire));
});

test('parseMessage: length below 4 is malformed', () => {
  for (const len of [3, 0, -1]) {
    const wire = Buffer.alloc(5);
    wire[0] = 0x52;
    wire.writeInt32BE(len, 1);
    throwsPg(() => parseMessage(wire), 'malformed', /invalid message length/);
  }
});

test('parseMessage: over the maximum is too-large as soon as the header is in', () => {
  assert.equal(MAX_AUTH_PHASE_MESSAGE_LENGTH, 1 << 20);
  const head = Buffer.alloc(5);
  head[0] = 0x45;
  head.writeInt32BE((1 << 20) + 1, 1);
  throwsPg(() => parseMessage(head), 'too-large');
  head.writeInt32BE(1 << 20, 1);
  assert.equal(parseMessage(head), null, 'exactly the maximum is allowed (waits for the body)');

  // A custom maximum.
  const msg = typedMsg('E', Buffer.alloc(100));
  throwsPg(() => parseMessage(msg, 99), 'too-large', /99/);
  assert.ok(parseMessage(msg, 104));
});

// ---- backend messages ----

test('decodeAuthRequest: AuthenticationOk (0)', () => {
  assert.deepEqual(decodeAuthRequest(int32(0)), { type: 'ok' });
});

test('decodeAuthRequest: AuthenticationCleartextPassword (3)', () => {
  assert.deepEqual(decodeAuthRequest(int32(3)), { type: 'cleartext' });
});

test('decodeAuthRequest: AuthenticationMD5Password (5) with its 4-byte salt', () => {
  const salt = Buffer.from([0x01, 0x02, 0xfe, 0xff]);
  const body = Buffer.concat([int32(5), salt]);
  const got = decodeAuthRequest(body);
  assert.deepEqual(got, { type: 'md5', salt });
  body.fill(0);
  assert.ok(got.type === 'md5');
  assert.deepEqual(got.salt, salt, 'the salt is a copy');
  throwsPg(() => decodeAuthRequest(Buffer.concat([int32(5), Buffer.alloc(3)])), 'malformed');
  throwsPg(() => decodeAuthRequest(Buffer.concat([int32(5), Buffer.alloc(5)])), 'malformed');
});

test('decodeAuthRequest: AuthenticationSASL (10) mechanism list', () => {
  const body = Buffer.concat([int32(10), cstrings('SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'), Buffer.from([0])]);
  assert.deepEqual(decodeAuthRequest(body), { type: 'sasl', mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'] });
  const one = Buffer.concat([int32(10), cstrings('SCRAM-SHA-256'), Buffer.from([0])]);
  assert.deepEqual(decodeAuthRequest(one), { type: 'sasl', mechanisms: ['SCRAM-SHA-256'] });
  throwsPg(() => decodeAuthRequest(Buffer.concat([int32(10), Buffer.from('SCRAM-SHA-256')])), 'malformed');
});

test('decodeAuthRequest: AuthenticationSASLContinue (11) and AuthenticationSASLFinal (12)', () => {
  const first = Buffer.from('r=abc,s=c2FsdA==,i=4096');
  assert.deepEqual(decodeAuthRequest(Buffer.concat([int32(11), first])), { type: 'sasl-continue', data: first });
  const final = Buffer.from('v=c2lnbmF0dXJl');
  assert.deepEqual(decodeAuthRequest(Buffer.concat([int32(12), final])), { type: 'sasl-final', data: final });
});

test('decodeAuthRequest: unsupported methods are named', () => {
  assert.deepEqual(decodeAuthRequest(int32(7)), { type: 'unsupported', code: 7, name: 'GSSAPI' });
  assert.deepEqual(decodeAuthRequest(int32(9)), { type: 'unsupported', code: 9, name: 'SSPI' });
  assert.deepEqual(decodeAuthRequest(int32(2)), { type: 'unsupported', code: 2, name: 'Kerberos V5' });
  assert.deepEqual(decodeAuthRequest(int32(42)), { type: 'unsupported', code: 42, name: 'method 42' });
});

test('decodeAuthRequest: a body shorter than the code is malformed', () => {
  throwsPg(() => decodeAuthRequest(Buffer.alloc(3)), 'malformed');
  throwsPg(() => decodeAuthRequest(Buffer.alloc(0)), 'malformed');
});

test('decodeErrorFields: a real PostgreSQL FATAL ErrorResponse body', () => {
  const body = Buffer.concat([
    Buffer.from('S'), cstrings('FATAL'),
    Buffer.from('V'), cstrings('FATAL'),
    Buffer.from('C'), cstrings('28P01'),
    Buffer.from('M'), cstrings('password authentication failed for user "alice"'),
    Buffer.from('F'), cstrings('auth.c'),
    Buffer.from('L'), cstrings('326'),
    Buffer.from('R'), cstrings('auth_failed'),
    Buffer.from([0]),
  ]);
  const fields = decodeErrorFields(body);
  assert.equal(fields.get('S'), 'FATAL');
  assert.equal(fields.get('V'), 'FATAL');
  assert.equal(fields.get('C'), '28P01');
  assert.equal(fields.get('M'), 'password authentication failed for user "alice"');
  assert.equal(fields.get('R'), 'auth_failed');
  assert.equal(fields.size, 7);
  assert.equal(decodeErrorFields(Buffer.from([0])).size, 0);
  throwsPg(() => decodeErrorFields(Buffer.from('Mno terminator')), 'malformed');
});

test('decodeBackendKeyData: pid and a 4-byte or longer (3.2) key', () => {
  const body = Buffer.concat([int32(31337), Buffer.from([9, 8, 7, 6])]);
  assert.deepEqual(decodeBackendKeyData(body), { pid: 31337, secret: Buffer.from([9, 8, 7, 6]) });
  const long = Buffer.concat([int32(5), Buffer.alloc(32, 0xab)]);
  assert.deepEqual(decodeBackendKeyData(long), { pid: 5, secret: Buffer.alloc(32, 0xab) });
  throwsPg(() => decodeBackendKeyData(Buffer.alloc(7)), 'malformed');
});

test('encodeCancelRequest: byte layout for a 4-byte key', () => {
  const wire = encodeCancelRequest(0x01020304, Buffer.from([0xaa, 0xbb, 0xcc, 0xdd]));
  assert.deepEqual(
    wire,
    Buffer.from([0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0x01, 0x02, 0x03, 0x04, 0xaa, 0xbb, 0xcc, 0xdd]),
  );
  assert.equal(wire.readInt32BE(0), 16);
  assert.equal(wire.readInt32BE(4), 80877102);
  assert.equal(CANCEL_REQUEST_CODE, 80877102);
  // And the startup parser reads it back.
  const parsed = parseStartupPacket(wire);
  assert.deepEqual(parsed, { value: { type: 'cancel-request', pid: 0x01020304, secret: Buffer.from([0xaa, 0xbb, 0xcc, 0xdd]) }, consumed: 16 });
});

test('encodeErrorResponse: round trip via parseMessage and decodeErrorFields', () => {
  const wire = encodeErrorResponse({
    severity: 'FATAL',
    code: '08001',
    message: "cannot reach the target db.internal:5432 of service 'orders': connection refused",
    detail: 'détail ✓',
    hint: 'check the service configuration',
  });
  assert.equal(wire[0], 0x45); // 'E'
  assert.equal(wire.readInt32BE(1), wire.length - 1);
  assert.equal(wire[wire.length - 1], 0);
  const parsed = parseMessage(wire);
  assert.ok(parsed);
  assert.equal(parsed.consumed, wire.length);
  assert.equal(parsed.value.type, 'E');
  const fields = decodeErrorFields(parsed.value.body);
  assert.deepEqual(Object.fromEntries(fields), {
    S: 'FATAL',
    V: 'FATAL',
    C: '08001',
    M: "cannot reach the target db.internal:5432 of service 'orders': connection refused",
    D: 'détail ✓',
    H: 'check the service configuration',
  });

  const minimal = encodeErrorResponse({ severity: 'ERROR', code: '28P01', message: 'm' });
  const minimalFields = decodeErrorFields(parseMessage(minimal)!.value.body);
  assert.deepEqual(Object.fromEntries(minimalFields), { S: 'ERROR', V: 'ERROR', C: '28P01', M: 'm' });
});

// ---- fuzz ----

/** mulberry32: a tiny deterministic PRNG so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBuffer(rand: () => number): Buffer {
  const interesting = [
    encodeStartup([['user', 'u'], ['database', 'd']]),
    encodeSslRequest(),
    encodeCancelRequest(1, Buffer.alloc(8, 1)),
    encodeErrorResponse({ severity: 'FATAL', code: '28000', message: 'x' }),
  ];
  const mode = Math.floor(rand() * 3);
  let buf: Buffer;
  if (mode === 0) {
    // Pure noise.
    buf = Buffer.alloc(Math.floor(rand() * 64));
    for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(rand() * 256);
  } else {
    // A valid packet with a few bytes flipped and maybe truncated or extended.
    buf = Buffer.from(interesting[Math.floor(rand() * interesting.length)]!);
    const flips = 1 + Math.floor(rand() * 4);
    for (let i = 0; i < flips && buf.length; i++) buf[Math.floor(rand() * buf.length)] = Math.floor(rand() * 256);
    if (mode === 2) buf = rand() < 0.5 ? buf.subarray(0, Math.floor(rand() * buf.length)) : Buffer.concat([buf, Buffer.alloc(Math.floor(rand() * 16), Math.floor(rand() * 256))]);
  }
  // Sometimes make the length word small and plausible so the body gets parsed.
  if (buf.length >= 8 && rand() < 0.5) buf.writeInt32BE(Math.floor(rand() * (buf.length + 4)), 0);
  if (buf.length >= 5 && rand() < 0.5) buf.writeInt32BE(Math.floor(rand() * (buf.length + 4)), 1);
  return buf;
}

test('fuzz: parsers return null, a value, or throw PgProtocolError, never anything else', () => {
  const rand = prng(0x5ec7e1e5);
  const outcomes = { nulls: 0, values: 0, protocolErrors: 0 };
  const decoders: ((b: Buffer) => unknown)[] = [decodeAuthRequest, decodeErrorFields, decodeBackendKeyData];
  for (let i = 0; i < 5000; i++) {
    const buf = randomBuffer(rand);
    for (const parse of [parseStartupPacket, (b: Buffer) => parseMessage(b), (b: Buffer) => parseMessage(b, 32)]) {
      let out: unknown;
      try {
        out = parse(buf);
      } catch (err) {
        assert.ok(err instanceof PgProtocolError, `iteration ${i}, input ${buf.toString('hex')}: ${String(err)}`);
        outcomes.protocolErrors++;
        continue;
      }
      if (out === null) {
        outcomes.nulls++;
        continue;
      }
      const parsed = out as { value: unknown; consumed: number };
      assert.ok(parsed.consumed > 0 && parsed.consumed <= buf.length, `iteration ${i}: consumed ${parsed.consumed} of ${buf.length}`);
      outcomes.values++;
    }
    for (const decode of decoders) {
      try {
        decode(buf);
      } catch (err) {
        assert.ok(err instanceof PgProtocolError, `decoder ${decode.name}, iteration ${i}, input ${buf.toString('hex')}: ${String(err)}`);
      }
    }
  }
  // The generator reaches every outcome, so the loop is not vacuous.
  assert.ok(outcomes.nulls > 100 && outcomes.values > 100 && outcomes.protocolErrors > 100, JSON.stringify(outcomes));
});
