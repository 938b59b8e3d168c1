// The MySQL codec: greeting and handshake response round trips (MariaDB extended
// capabilities, connection attributes, SSLRequest), ERR and auth replies, framing
// limits, malformed input, the auth switch nonce of each plugin, and the capability
// agreement rule (capabilities.ts).
import assert from 'node:assert/strict';
import { switchMechanism } from '../../broker/connectors/mysql/auth-mechanisms.js';
import { backendCapabilities, clientFacingCapabilities, dataPhaseMismatch, PASSTHROUGH_CAPS } from '../../broker/connectors/mysql/capabilities.js';
import { test } from 'node:test';
import {
  CAP,
  encodeAuthSwitch,
  encodeErr,
  encodeGreeting,
  encodeHandshakeResponse,
  encodePacket,
  encodeSslRequest,
  MARIADB_CAP,
  MysqlProtocolError,
  packetParser,
  parseAuthReply,
  parseErr,
  parseHandshakeResponse,
  parseServerHello,
  type Greeting,
} from '../../broker/connectors/mysql/codec.js';
import type { Socket } from 'node:net';
import { greetClient, greetFromTemplate, greetingTemplate, sameProfile } from '../../broker/connectors/mysql/client-side.js';

const mariaGreeting: Greeting = {
  type: 'greeting',
  serverVersion: '5.5.5-10.11.6-MariaDB',
  connectionId: 42,
  scramble: Buffer.from('abcdefghijklmnopqrst'),
  capabilities:
    (CAP.PROTOCOL_41 | CAP.SECURE_CONNECTION | CAP.PLUGIN_AUTH | CAP.SSL | CAP.COMPRESS | CAP.DEPRECATE_EOF | CAP.MULTI_RESULTS |
      CAP.MULTI_STATEMENTS | CAP.PS_MULTI_RESULTS | CAP.LOCAL_FILES | CAP.CONNECT_ATTRS | CAP.SESSION_TRACK | CAP.PLUGIN_AUTH_LENENC_CLIENT_DATA) >>> 0,
  mariadbCapabilities: MARIADB_CAP.PROGRESS | MARIADB_CAP.STMT_BULK_OPERATIONS | MARIADB_CAP.EXTENDED_METADATA | MARIADB_CAP.CACHE_METADATA,
  charset: 45,
  status: 2,
  authPlugin: 'mysql_native_password',
};

test('greeting round trip, including MariaDB extended capabilities', () => {
  const { type: _t, ...fields } = mariaGreeting;
  const parsed = parseServerHello(encodeGreeting(fields));
  assert.deepEqual(parsed, mariaGreeting);
});

test('handshake response round trip with database, plugin, attributes and MariaDB capabilities', () => {
  const r = {
    capabilities: (CAP.PROTOCOL_41 | CAP.SECURE_CONNECTION | CAP.PLUGIN_AUTH | CAP.CONNECT_WITH_DB | CAP.CONNECT_ATTRS | CAP.PLUGIN_AUTH_LENENC_CLIENT_DATA | CAP.DEPRECATE_EOF) >>> 0,
    mariadbCapabilities: MARIADB_CAP.CACHE_METADATA,
    maxPacketSize: 1 << 24,
    charset: 224,
    username: 'ü-user',
    authResponse: Buffer.alloc(20, 7),
    database: 'app',
    authPlugin: 'mysql_native_password',
    attributes: [['_client_name', 'libmariadb'], ['program_name', 'mariadb']] as [string, string][],
  };
  const parsed = parseHandshakeResponse(encodeHandshakeResponse(r));
  assert.deepEqual(parsed, { type: 'handshake-response', ...r });
  // A MySQL-style client (CLIENT_MYSQL set) has no extended capabilities.
  const mysqlStyle = parseHandshakeResponse(encodeHandshakeResponse({ ...r, capabilities: r.capabilities | CAP.LONG_PASSWORD, mariadbCapabilities: 0 }));
  assert.equal(mysqlStyle.mariadbCapabilities, 0);
});

test('an SSLRequest is recognised', () => {
  const ssl = parseHandshakeResponse(encodeSslRequest({ capabilities: CAP.PROTOCOL_41, mariadbCapabilities: 0, maxPacketSize: 1 << 24, charset: 33 }));
  assert.equal(ssl.type, 'ssl-request');
  assert.ok(ssl.capabilities & CAP.SSL);
});

test("the broker's greeting from a per-profile template is the one it would encode, with a new scramble each time", () => {
  const written: Buffer[] = [];
  const state = () => ({ socket: { write: (b: Buffer) => written.push(b) } as unknown as Socket, reader: undefined as never, nextSeq: 0 });
  for (const [profile, tls] of [[mariaGreeting, false], [{ ...mariaGreeting, serverVersion: '8.0.36', capabilities: (mariaGreeting.capabilities | CAP.LONG_PASSWORD) >>> 0 }, true]] as const) {
    const template = greetingTemplate(profile, tls);
    const scrambles = [greetFromTemplate(state(), template), greetFromTemplate(state(), template)];
    const direct = greetClient(state(), { ...profile, connectionId: 0 }, clientFacingCapabilities(profile), tls);
    const [a, b, c] = written.splice(0).map((packet) => parseServerHello(packet.subarray(4)) as Greeting);
    assert.deepEqual(a, { ...c!, scramble: scrambles[0] });
    assert.deepEqual(b, { ...c!, scramble: scrambles[1] });
    assert.deepEqual(c!.scramble, direct);
    assert.notDeepEqual(scrambles[0], scrambles[1]);
    assert.equal(a!.connectionId, 0);
  }
  // A target greeting that offers clients the same keeps the template; a changed one does not.
  assert.equal(sameProfile(mariaGreeting, { ...mariaGreeting, connectionId: 7, scramble: Buffer.alloc(20) }), true);
  assert.equal(sameProfile(mariaGreeting, { ...mariaGreeting, serverVersion: '5.5.5-10.11.7-MariaDB' }), false);
  assert.equal(sameProfile(mariaGreeting, { ...mariaGreeting, capabilities: mariaGreeting.capabilities & ~CAP.SSL }), false);
});

test('malformed handshake responses and greetings throw MysqlProtocolError', () => {
  assert.throws(() => parseHandshakeResponse(Buffer.from([0x05, 0x02, 0x00])), MysqlProtocolError);
  assert.throws(() => parseHandshakeResponse(Buffer.alloc(40)), /pre-4.1/);
  const noNul = Buffer.concat([Buffer.from([0x00, 0x82, 0x08, 0x00]), Buffer.alloc(28), Buffer.from('user-without-nul')]);
  assert.throws(() => parseHandshakeResponse(noNul), MysqlProtocolError);
  assert.throws(() => parseServerHello(Buffer.from([9, 0x41, 0])), /protocol version 9/);
  assert.throws(() => parseServerHello(Buffer.from([10, 0x41])), MysqlProtocolError);
});

test('framing: partial packets wait, oversized packets are refused before they are buffered', () => {
  const parse = packetParser(100);
  const p = encodePacket(3, Buffer.from('hello'));
  assert.equal(parse(p.subarray(0, 6)), null);
  assert.deepEqual(parse(p), { value: { seq: 3, payload: Buffer.from('hello') }, consumed: 9 });
  assert.throws(() => parse(Buffer.from([0xff, 0xff, 0xff, 0x01])), (e: unknown) => e instanceof MysqlProtocolError && e.kind === 'too-large');
});

test('ERR packets and auth replies', () => {
  const err = parseErr(encodeErr(1045, '28000', 'denied'));
  assert.deepEqual({ errno: err.errno, sqlState: err.sqlState, message: err.message }, { errno: 1045, sqlState: '28000', message: 'denied' });
  const sw = parseAuthReply(encodeAuthSwitch('mysql_native_password', Buffer.alloc(20, 1)));
  assert.deepEqual(sw, { type: 'auth-switch', plugin: 'mysql_native_password', data: Buffer.concat([Buffer.alloc(20, 1), Buffer.from([0])]) });
  // A random ed25519 nonce may end in 0: it is data, not a terminator (1 login in 256 failed).
  const nonce = Buffer.concat([Buffer.alloc(31, 7), Buffer.from([0])]);
  // As MariaDB sends it: the plugin's 32 bytes with no terminator.
  const ed = parseAuthReply(Buffer.concat([Buffer.from([0xfe]), Buffer.from('client_ed25519\0'), nonce]));
  assert.ok(ed.type === 'auth-switch' && ed.data.equals(nonce));
  assert.ok(switchMechanism('client_ed25519').switchNonce(nonce).equals(nonce));
  // The 20-byte scramble plugins send a NUL terminator, which is not part of the scramble.
  const scramble = Buffer.alloc(20, 9);
  const native = parseAuthReply(encodeAuthSwitch('mysql_native_password', scramble));
  assert.ok(native.type === 'auth-switch' && switchMechanism(native.plugin).switchNonce(native.data).equals(scramble));
  const scrambleEndingInZero = Buffer.concat([Buffer.alloc(19, 9), Buffer.from([0])]);
  assert.ok(switchMechanism('mysql_native_password').switchNonce(Buffer.concat([scrambleEndingInZero, Buffer.from([0])])).equals(scrambleEndingInZero));
  assert.deepEqual(parseAuthReply(Buffer.from([0x01, 0x04])), { type: 'auth-more-data', data: Buffer.from([0x04]) });
  assert.equal(parseAuthReply(Buffer.from([0x00, 0, 0, 2, 0, 0, 0])).type, 'ok');
  assert.throws(() => parseAuthReply(Buffer.from([0x42])), MysqlProtocolError);
});

test('capability rule: offer the passable backend flags, send the backend exactly what the client chose of them', () => {
  const offered = clientFacingCapabilities(mariaGreeting);
  assert.equal(offered.capabilities & CAP.SSL, 0, 'no TLS offered to clients');
  assert.equal(offered.capabilities & CAP.COMPRESS, 0, 'no compression');
  assert.equal(offered.capabilities & CAP.LONG_PASSWORD, 0, 'MariaDB mode kept so extended capabilities are read');
  assert.ok(offered.capabilities & CAP.DEPRECATE_EOF);
  assert.equal(offered.capabilities & CAP.QUERY_ATTRIBUTES, 0, 'not offered: the backend lacks it');
  assert.equal(offered.mariadbCapabilities, mariaGreeting.mariadbCapabilities);

  // A greedy client asking for everything, including what was not offered.
  const client = { capabilities: 0xffffffff >>> 0, mariadbCapabilities: 0xff };
  const sent = backendCapabilities(mariaGreeting, client, offered);
  const clientEffective = client.capabilities & offered.capabilities;
  assert.equal(dataPhaseMismatch(clientEffective, sent.capabilities), 0);
  assert.equal(sent.capabilities & CAP.COMPRESS, 0);
  assert.equal(sent.capabilities & CAP.QUERY_ATTRIBUTES, 0);
  assert.equal(sent.mariadbCapabilities, mariaGreeting.mariadbCapabilities & 0xff);

  // A modest client: the backend gets no flag the client did not choose.
  const modest = { capabilities: CAP.PROTOCOL_41 | CAP.SECURE_CONNECTION | CAP.PLUGIN_AUTH | CAP.MULTI_RESULTS, mariadbCapabilities: 0 };
  const sentModest = backendCapabilities(mariaGreeting, modest, offered);
  assert.equal(sentModest.capabilities & PASSTHROUGH_CAPS, CAP.MULTI_RESULTS);
  assert.equal(sentModest.mariadbCapabilities, 0);

  // A MySQL server (CLIENT_MYSQL set): no extended capabilities either way.
  const mysql8 = { ...mariaGreeting, capabilities: mariaGreeting.capabilities | CAP.LONG_PASSWORD | CAP.QUERY_ATTRIBUTES, mariadbCapabilities: 0 };
  const offered8 = clientFacingCapabilities(mysql8);
  assert.ok(offered8.capabilities & CAP.LONG_PASSWORD);
  assert.ok(offered8.capabilities & CAP.QUERY_ATTRIBUTES);
  assert.equal(offered8.mariadbCapabilities, 0);
});
