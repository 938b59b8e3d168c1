// The broker's Redis login dialogue and the interception rule, as pure logic: what is
// sent, how each server answer is read, and what replaces a client's AUTH / HELLO.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { intercept, type BrokerLogin } from '../../broker/connectors/redis/interception.js';
import { createLoginDialogue, RedisLoginError, type LoginSettings, type LoginStep } from '../../broker/connectors/redis/login.js';
import { encodeCommand, parseReply, type RespValue } from '../../broker/connectors/redis/resp.js';

const names = { service: 'cache', target: '127.0.0.1:6379' };
const PASSWORD = Buffer.from('s3cret-pw');
const r = (wire: string): RespValue => parseReply(Buffer.from(wire))!.value;
const OK = r('+OK\r\n');
const HELLO_REPLY = r('*6\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.4\r\n$5\r\nproto\r\n:2\r\n');
const sent = (step: LoginStep) => {
  assert.equal(step.type, 'send');
  return step.type === 'send' ? { bytes: step.bytes.toString(), replies: step.replies } : { bytes: '', replies: 0 };
};

function fails(settings: LoginSettings, replies: RespValue[][], code: string, pattern: RegExp, prefix?: string): void {
  const d = createLoginDialogue(settings, names);
  d.first();
  let last: unknown;
  for (const batch of replies) {
    try {
      d.onReplies(batch);
    } catch (err) {
      last = err;
    }
  }
  assert.ok(last instanceof RedisLoginError, 'the login fails');
  assert.equal(last.code, code);
  assert.match(last.message, pattern);
  assert.equal(last.prefix, prefix);
  assert.doesNotMatch(last.message, /s3cret/);
}

test('HELLO 2 AUTH with SELECT pipelined: one round trip, RESP2 kept, the server version read', () => {
  const d = createLoginDialogue({ username: 'app', password: PASSWORD, db: 3 }, names);
  assert.deepEqual(sent(d.first()), { bytes: encodeCommand(['HELLO', '2', 'AUTH', 'app', PASSWORD]).toString() + encodeCommand(['SELECT', '3']).toString(), replies: 2 });
  assert.deepEqual(d.onReplies([HELLO_REPLY, OK]), { type: 'done', method: 'hello-auth', aclUsers: true, serverVersion: '7.2.4' });
});

test('no username: the default user; no password: HELLO 2 alone; db 0 or none: no SELECT', () => {
  assert.deepEqual(sent(createLoginDialogue({ password: PASSWORD }, names).first()), { bytes: encodeCommand(['HELLO', '2', 'AUTH', 'default', PASSWORD]).toString(), replies: 1 });
  const open = createLoginDialogue({ db: 0 }, names);
  assert.deepEqual(sent(open.first()), { bytes: encodeCommand(['HELLO', '2']).toString(), replies: 1 });
  assert.equal((open.onReplies([HELLO_REPLY]) as { method: string }).method, 'hello');
});

test('no HELLO (Redis < 6, or renamed): AUTH user pass, or the legacy AUTH pass, then SELECT again', () => {
  const unknown = r("-ERR unknown command 'HELLO', with args beginning with: \r\n");
  const noauth = r('-NOAUTH Authentication required.\r\n');
  const withUser = createLoginDialogue({ username: 'app', password: PASSWORD, db: 1 }, names);
  withUser.first();
  assert.deepEqual(sent(withUser.onReplies([unknown, noauth])), { bytes: encodeCommand(['AUTH', 'app', PASSWORD]).toString() + encodeCommand(['SELECT', '1']).toString(), replies: 2 });
  assert.deepEqual(withUser.onReplies([OK, OK]), { type: 'done', method: 'auth', aclUsers: true });
  const legacy = createLoginDialogue({ password: PASSWORD }, names);
  legacy.first();
  assert.deepEqual(sent(legacy.onReplies([unknown])), { bytes: encodeCommand(['AUTH', PASSWORD]).toString(), replies: 1 });
  assert.deepEqual(legacy.onReplies([OK]), { type: 'done', method: 'auth-legacy', aclUsers: false });
  const none = createLoginDialogue({ db: 2 }, names);
  none.first();
  assert.deepEqual(none.onReplies([unknown, OK]), { type: 'done', method: 'none', aclUsers: false });
});

test('failures name the service and target, carry the right code and prefix, never the password', () => {
  fails({ username: 'app', password: PASSWORD }, [[r('-WRONGPASS invalid username-password pair or user is disabled.\r\n')]], 'target_rejected_credentials', /service 'cache'.*rejected.*user app.*WRONGPASS/);
  fails({}, [[r('-NOAUTH HELLO must be called with the client already authenticated\r\n')]], 'target_rejected_credentials', /requires a password and the service has none/, 'NOAUTH');
  fails({ password: PASSWORD, db: 99 }, [[HELLO_REPLY, r('-ERR DB index is out of range\r\n')]], 'target_error', /refused SELECT 99: ERR DB index/, 'ERR');
  fails({ password: PASSWORD, db: 2 }, [[HELLO_REPLY, r("-NOPERM this user has no permissions to run the 'select' command\r\n")]], 'target_error', /NOPERM/, 'NOPERM');
  fails({ password: PASSWORD }, [[r("-ERR unknown command 'HELLO'\r\n")], [r('-ERR invalid password\r\n')]], 'target_rejected_credentials', /rejected/);
  fails({ username: 'app', password: PASSWORD }, [[r("-ERR unknown command 'HELLO'\r\n")], [r("-ERR wrong number of arguments for 'auth' command\r\n")]], 'unsupported_auth', /older than Redis 6/);
  fails({ password: PASSWORD }, [[r('-LOADING Redis is loading the dataset in memory\r\n')]], 'target_error', /LOADING/, 'LOADING');
});

const asApp: BrokerLogin = { username: 'app', password: PASSWORD, aclUsers: true };
const args = (...a: string[]) => a.map((s) => Buffer.from(s));
const replaced = (i: ReturnType<typeof intercept>) => (i.type === 'replace' ? i.bytes.toString() : 'forward');

test("a client's AUTH becomes the broker's AUTH, whatever password it gave", () => {
  const brokerAuth = encodeCommand(['AUTH', 'app', PASSWORD]).toString();
  assert.equal(replaced(intercept(args('AUTH', 'anything'), asApp)), brokerAuth);
  assert.equal(replaced(intercept(args('auth', 'app', 'x'), asApp)), brokerAuth);
  assert.deepEqual(intercept(args('AUTH', 'app', 'x'), asApp), { type: 'replace', bytes: Buffer.from(brokerAuth), record: { command: 'AUTH', action: 'answered', requestedUser: 'app' } });
  assert.equal(replaced(intercept(args('AUTH', 'x'), { aclUsers: true })), encodeCommand(['AUTH', 'default', '']).toString());
  assert.equal(replaced(intercept(args('AUTH', 'x'), { password: PASSWORD, aclUsers: false })), encodeCommand(['AUTH', PASSWORD]).toString());
});

test('AUTH as another user is refused by a command whose error says the connection stays the broker user', () => {
  const i = intercept(args('AUTH', 'admin', 'pw'), asApp);
  assert.equal(i.type, 'replace');
  assert.match(replaced(i), /secretless-broker: AUTH as admin refused, this connection stays user app/);
  assert.doesNotMatch(replaced(i), /pw/);
  assert.deepEqual(i.type === 'replace' && i.record, { command: 'AUTH', action: 'refused', requestedUser: 'admin' });
  assert.match(replaced(intercept(args('AUTH', 'default', 'pw'), asApp)), /AUTH as default refused/);
  assert.match(replaced(intercept(args('AUTH', 'a\r\nb', 'pw'), asApp)), /AUTH as a\?\?b refused/);
});

test('AUTH with a wrong number of arguments: a bare AUTH (the server answers the arity error), no argument passed on', () => {
  assert.equal(replaced(intercept(args('AUTH'), asApp)), encodeCommand(['AUTH']).toString());
  assert.equal(replaced(intercept(args('AUTH', 'a', 'b', 'c'), asApp)), encodeCommand(['AUTH']).toString());
});

test('HELLO: AUTH removed, SETNAME and the version kept; without AUTH it goes as it is; a bad option stops there', () => {
  assert.equal(replaced(intercept(args('HELLO', '3', 'AUTH', 'app', 'x', 'SETNAME', 'me'), asApp)), encodeCommand(['HELLO', '3', 'SETNAME', 'me']).toString());
  assert.equal(replaced(intercept(args('hello', '2', 'setname', 'me', 'auth', 'app', 'x'), asApp)), encodeCommand(['hello', '2', 'setname', 'me']).toString());
  assert.equal(intercept(args('HELLO', '3', 'SETNAME', 'me'), asApp).type, 'forward');
  assert.equal(intercept(args('HELLO'), asApp).type, 'forward');
  assert.equal(replaced(intercept(args('HELLO', '3', 'BOGUS', 'AUTH', 'app', 'pw'), asApp)), encodeCommand(['HELLO', '3', 'BOGUS']).toString());
  assert.match(replaced(intercept(args('HELLO', '3', 'AUTH', 'root', 'pw'), asApp)), /AUTH as root refused/);
  // AUTH without both arguments is an option error for the server; nothing secret in it.
  assert.equal(intercept(args('HELLO', '3', 'AUTH', 'app'), asApp).type, 'replace');
});
