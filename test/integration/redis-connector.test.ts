// The redis connector against real Debian redis-servers (an ACL-file instance, a
// TLS-only instance requiring client certificates, one with HELLO renamed away) through
// redis-cli and raw RESP sockets, over TCP and Unix socket listeners: the broker's login,
// the interception rule command by command, pipelines queued before the login ends,
// errors in Redis's format, and every output searched for the passwords at the end.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseReply, replyFields, replyText, type RespValue } from '../../broker/connectors/redis/resp.js';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { closedPort } from '../fixtures/free-port.js';
import { startRedis, type RedisServer } from '../fixtures/redis-server.js';
import { run, type RunResult } from '../fixtures/run.js';

let acl: RedisServer;
let tlsOnly: RedisServer;
let noHello: RedisServer;
let tb: TestBroker;
let dir: string;
let gate: Gate;
let notRedis: net.Server;
let silent: net.Server;
const clientOutput: string[] = [];
const WRONG_PASSWORD = `wrong-${randomBytes(8).toString('hex')}`;

/** A TCP relay to the ACL server that holds the server's replies until released (the broker's login cannot finish before). */
interface Gate {
  port: number;
  release(): void;
  close(): void;
}

async function startGate(target: number): Promise<Gate> {
  let open = false;
  const held: (() => void)[] = [];
  const server = net.createServer((c) => {
    const up = net.connect({ host: '127.0.0.1', port: target });
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
    c.pipe(up);
    const flow = () => up.pipe(c);
    if (open) flow();
    else held.push(flow);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    release() {
      open = true;
      for (const f of held.splice(0)) f();
    },
    close: () => server.close(),
  };
}

function service(name: string, creds: Record<string, string | number>, listen = 'tcp://127.0.0.1:0', config = ''): string {
  const lines = Object.entries(creds).map(([k, v]) => `      ${k}: ${typeof v === 'string' && v.startsWith('{') ? v : JSON.stringify(v)}`);
  // verboseClientErrors: the tests read each error's details from redis-cli.
  return `  ${name}:\n    connector: redis\n    listenOn: ${listen}\n    verboseClientErrors: true\n    credentials:\n${lines.join('\n')}\n${config}`;
}

/** redis-cli against a broker service, no password given; every line of output kept for the redaction check. */
async function cli(svc: string, args: string[], input?: string): Promise<RunResult> {
  const { port } = tb.tcp(svc);
  const r = await run('redis-cli', ['-p', String(port), ...args], { input, env: { PATH: process.env.PATH } });
  clientOutput.push(r.stdout, r.stderr);
  return r;
}

const lines = (r: RunResult) => r.stdout.trim().split('\n');

/** A raw RESP client: write bytes, read whole replies. */
async function raw(port: number | string): Promise<{ socket: net.Socket; send(b: string | Buffer): void; replies(n: number): Promise<RespValue[]>; closed: Promise<void> }> {
  const socket = typeof port === 'number' ? net.connect({ host: '127.0.0.1', port }) : net.connect({ path: port });
  let buf = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    clientOutput.push(d.toString('latin1'));
    wake?.();
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.once('close', () => (r(), wake?.())));
  await new Promise((r) => socket.once('connect', r));
  return {
    socket,
    send: (b) => socket.write(b),
    async replies(n) {
      const out: RespValue[] = [];
      while (out.length < n) {
        const p = parseReply(buf);
        if (p) {
          out.push(p.value);
          buf = buf.subarray(p.consumed);
          continue;
        }
        if (socket.destroyed) throw new Error(`connection closed after ${out.length} of ${n} replies`);
        await new Promise<void>((r) => (wake = r));
      }
      return out;
    },
    closed,
  };
}

before(async () => {
  [acl, tlsOnly, noHello] = await Promise.all([
    startRedis({ auth: 'acl' }),
    startRedis({ auth: 'requirepass', tls: true }),
    startRedis({ auth: 'requirepass', conf: ['rename-command HELLO ""'] }),
  ]);
  dir = mkdtempSync(join(tmpdir(), 'sl-redis-'));
  gate = await startGate(acl.port);
  notRedis = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
  });
  await new Promise<void>((r) => notRedis.listen(0, '127.0.0.1', () => r()));
  silent = net.createServer((s) => s.on('error', () => undefined));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  const app = { host: '127.0.0.1', port: acl.port, username: 'app', password: '{ from: env, get: PW_APP }', sslmode: 'disable' };
  const certs = tlsOnly.certs!;
  const tls = { host: '127.0.0.1', port: tlsOnly.port, password: '{ from: env, get: PW_TLS }', sslrootcert: certs.ca.certPath, sslcert: certs.client.certPath, sslkey: '{ from: env, get: CLIENT_KEY }' };
  const yaml = `version: "2"
services:
${service('app', app)}
${service('app-db2', { ...app, db: 2 })}
${service('app-unix', { ...app, host: acl.socket }, `unix://${dir}/redis.sock`)}
${service('admin', { host: acl.socket, password: '{ from: env, get: PW_DEFAULT }' })}
${service('gated', { ...app, port: gate.port })}
${service('wrong-password', { ...app, password: '{ from: env, get: PW_WRONG }' })}
${service('no-password', { ...app, username: '', password: '' })}
  quiet-no-password:
    connector: redis
    listenOn: tcp://127.0.0.1:0
    credentials:
      host: 127.0.0.1
      port: ${acl.port}
      sslmode: disable
${service('bad-db', { ...app, db: 99 })}
${service('down', { ...app, port: await closedPort() })}
${service('no-secret', { ...app, password: '{ from: env, get: PW_NOT_SET }' })}
${service('silent', { ...app, port: (silent.address() as net.AddressInfo).port }, undefined, '    config:\n      authTimeoutMs: 300\n')}
${service('not-redis', { ...app, port: (notRedis.address() as net.AddressInfo).port })}
${service('tls-full', { ...tls, sslmode: 'verify-full', sslhost: 'localhost' })}
${service('tls-wrong-ca', { ...tls, sslmode: 'verify-ca', sslrootcert: certs.wrongCa.certPath })}
${service('tls-no-cert', { host: '127.0.0.1', port: tlsOnly.port, password: '{ from: env, get: PW_TLS }', sslmode: 'verify-ca', sslrootcert: certs.ca.certPath })}
${service('tls-default', { host: '127.0.0.1', port: acl.port, username: 'app', password: '{ from: env, get: PW_APP }' }, undefined, '    config:\n      connectTimeoutMs: 1000\n')}
${service('legacy', { host: '127.0.0.1', port: noHello.port, password: '{ from: env, get: PW_LEGACY }', sslmode: 'disable' })}
`;
  tb = await startTestBroker(yaml, {
    env: { PW_APP: acl.app.password, PW_DEFAULT: acl.defaultPassword, PW_WRONG: WRONG_PASSWORD, PW_TLS: tlsOnly.defaultPassword, PW_LEGACY: noHello.defaultPassword, CLIENT_KEY: certs.client.key },
  });
});

after(async () => {
  await tb?.stop();
  gate?.close();
  notRedis?.close();
  silent?.close();
  await Promise.all([acl?.stop(), tlsOnly?.stop(), noHello?.stop()]);
});

const authenticated = (svc: string) => tb.audit.records.filter((r) => r.type === 'connection.authenticated' && r.service === svc).at(-1) as { authMethod: string; tls: boolean; target: string } | undefined;

describe('logins', () => {
  test('redis-cli without a password is the ACL user app, on db 0, in RESP2', async () => {
    const r = await cli('app', [], 'PING\nACL WHOAMI\nSET app:greeting hello\nGET app:greeting\nCLIENT INFO\n');
    assert.equal(r.code, 0, r.stderr);
    const [pong, who, set, get, info] = lines(r);
    assert.deepEqual([pong, who, set, get], ['PONG', 'app', 'OK', 'hello']);
    assert.match(info!, / db=0 .* user=app .*resp=2/);
    assert.equal(authenticated('app')?.authMethod, 'hello-auth');
    assert.equal(authenticated('app')?.tls, false);
  });

  test('db is selected after the login', async () => {
    await acl.cli(['-n', '2', 'SET', 'app:where', 'db2']);
    assert.deepEqual(lines(await cli('app-db2', [], 'GET app:where\nCLIENT INFO\n'))[0], 'db2');
    assert.equal(lines(await cli('app', [], 'GET app:where\n'))[0], '');
  });

  test('Unix socket listener to the Unix socket target; the default user with the legacy password', async () => {
    const r = await run('redis-cli', ['-s', join(dir, 'redis.sock'), 'ACL', 'WHOAMI'], { env: { PATH: process.env.PATH } });
    clientOutput.push(r.stdout, r.stderr);
    assert.equal(r.stdout.trim(), 'app');
    assert.equal((await cli('admin', ['ACL', 'WHOAMI'])).stdout.trim(), 'default');
    assert.equal(authenticated('app-unix')?.target, acl.socket);
  });

  test('TLS-only server with client certificates: verify-full works; a wrong CA and a missing client certificate fail in Redis format', async () => {
    const ok = await cli('tls-full', ['PING']);
    assert.equal(ok.stdout.trim(), 'PONG', ok.stderr);
    assert.equal(authenticated('tls-full')?.tls, true);
    const wrongCa = await cli('tls-wrong-ca', ['PING']);
    assert.match(wrongCa.stdout, /^ERR secretless: TLS to 127\.0\.0\.1:\d+ failed: the server certificate is not signed by the configured sslrootcert/);
    const noCert = await cli('tls-no-cert', ['PING']);
    assert.match(noCert.stdout, /^ERR secretless: .*(closed the connection|TLS)/);
    // No sslmode: require, as for pg and mysql; against a plain server that is a TLS error with a hint.
    const plain = await cli('tls-default', ['PING']);
    assert.match(plain.stdout, /^ERR secretless: TLS to .* failed: no answer to the TLS handshake within 1 s \(a plain Redis server does not speak TLS: for one, set sslmode: disable\)/);
    assert.equal((await cli('app', ['PING'])).stdout.trim(), 'PONG', 'the broker keeps serving');
  });

  test('a server without HELLO: AUTH with the legacy single password, and a client AUTH becomes the same', async () => {
    const r = await cli('legacy', [], 'PING\nAUTH whatever\nACL WHOAMI\n');
    assert.deepEqual(lines(r), ['PONG', 'OK', 'default']);
    assert.equal(authenticated('legacy')?.authMethod, 'auth-legacy');
  });
});

describe('errors in the client, in Redis format, audited', () => {
  const failed = (svc: string) => tb.audit.records.filter((r) => r.type === 'connection.failed' && r.service === svc).at(-1) as { code: string; reason: string } | undefined;

  test('wrong password: WRONGPASS', async () => {
    const r = await cli('wrong-password', ['PING']);
    assert.match(r.stdout, /^WRONGPASS secretless: service 'wrong-password': the target 127\.0\.0\.1:\d+ rejected the broker's credentials for user app: WRONGPASS invalid username-password pair/);
    assert.equal(failed('wrong-password')?.code, 'target_rejected_credentials');
  });

  test('no password for a server that needs one: NOAUTH', async () => {
    const r = await cli('no-password', ['PING']);
    assert.match(r.stdout, /^NOAUTH secretless: .*requires a password and the service has none/);
  });

  test('a TCP listener without verboseClientErrors: the same prefix, the catalog summary and a reference, no address', async () => {
    const r = await cli('quiet-no-password', ['PING']);
    assert.match(r.stdout, /^NOAUTH secretless: the target rejected the broker's configured credentials \(reference \S+; the details are in the broker's log\)/);
    assert.doesNotMatch(r.stdout, new RegExp(String(acl.port)));
  });

  test('a db the server does not have: the server error relayed', async () => {
    assert.match((await cli('bad-db', ['PING'])).stdout, /^ERR secretless: .*refused SELECT 99: ERR DB index is out of range/);
  });

  test('target down; target not a Redis server', async () => {
    assert.match((await cli('down', ['PING'])).stdout, /^ERR secretless: cannot reach the target 127\.0\.0\.1:\d+ of service 'down': connection refused/);
    assert.equal(failed('down')?.code, 'target_unreachable');
    assert.match((await cli('not-redis', ['PING'])).stdout, /^ERR secretless: the target 127\.0\.0\.1:\d+ is not a Redis server/);
  });

  test('a credential provider failure: NOAUTH naming the provider and id; a silent target: the login deadline', async () => {
    assert.match((await cli('no-secret', ['PING'])).stdout, /^NOAUTH secretless: .*provider 'env' could not get 'PW_NOT_SET'/);
    assert.equal(failed('no-secret')?.code, 'provider_failed');
    assert.match((await cli('silent', ['PING'])).stdout, /^ERR secretless: the target of service 'silent' did not complete the login in time/);
  });

  test('ACL denials come from the server, relayed as they are', async () => {
    const r = await cli('app', ['--no-raw'], 'CONFIG SET maxmemory 1\nFLUSHALL\nGET other:key\nACL LIST\n');
    const out = lines(r).map((l) => l.replace(/^\(error\) /, ''));
    assert.match(out[0]!, /^NOPERM this user has no permissions to run the 'config\|set' command/);
    assert.match(out[1]!, /^NOPERM this user has no permissions to run the 'flushall' command/);
    assert.match(out[2]!, /^NOPERM this user has no permissions to access one of the keys used as arguments/);
    assert.match(out[3]!, /^NOPERM/);
  });

  test('garbage input: the server answers its protocol error and closes; the broker keeps serving', async () => {
    for (const [garbage, error] of [
      ['*x\r\n', 'Protocol error: invalid multibulk length'],
      ['*1\r\n$-5\r\n', 'Protocol error: invalid bulk length'],
      ['*1\r\n#4\r\n', "Protocol error: expected '$', got '#'"],
      ['AUTH "unbalanced\r\n', 'Protocol error: unbalanced quotes in request'],
      ['PING\r\n*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nAUTH\r\n$x\r\n', 'Protocol error: invalid bulk length'],
    ] as const) {
      const c = await raw(tb.tcp('app').port);
      c.send(garbage);
      const replies = await c.replies(garbage.startsWith('PING') ? 3 : 1);
      const last = replies.at(-1)!;
      assert.deepEqual(last, { type: 'error', value: `ERR ${error}` }, JSON.stringify(garbage));
      await c.closed;
    }
    const big = await raw(tb.tcp('app').port);
    big.send(Buffer.alloc(70_000, 0x61));
    assert.deepEqual(await big.replies(1), [{ type: 'error', value: 'ERR Protocol error: too big inline request' }]);
    assert.equal((await cli('app', ['PING'])).stdout.trim(), 'PONG');
  });
});

describe('the interception rule, command by command', () => {
  test('AUTH: any password is OK (the broker user), inline or multibulk, in the middle of the session', async () => {
    const before = tb.audit.records.length;
    const r = await cli('app', [], 'SET app:k 1\nAUTH anything\nAUTH app anything\nauth app x\nACL WHOAMI\nGET app:k\n');
    assert.deepEqual(lines(r), ['OK', 'OK', 'OK', 'OK', 'app', '1']);
    const recs = tb.audit.records.slice(before).filter((x) => x.type === 'command.intercepted');
    assert.deepEqual(
      recs.map((x) => x.type === 'command.intercepted' && [x.command, x.action, x.requestedUser]),
      [
        ['AUTH', 'answered', undefined],
        ['AUTH', 'answered', 'app'],
        ['AUTH', 'answered', 'app'],
      ],
    );
  });

  test('AUTH as another user: refused, and the reply says the connection stays user app', async () => {
    const r = await cli('app', ['--no-raw'], `AUTH default ${acl.defaultPassword}\nACL WHOAMI\nAUTH admin x\nCONFIG GET maxmemory\n`);
    const out = lines(r).map((l) => l.replace(/^\(error\) /, '').replace(/^"(.*)"$/, '$1'));
    assert.match(out[0]!, /^ERR unknown command 'secretless-broker: AUTH as default refused, this connection stays user app'/);
    assert.equal(out[1], 'app');
    assert.match(out[2]!, /AUTH as admin refused, this connection stays user app/);
    assert.match(out[3]!, /^NOPERM/);
    const rec = tb.audit.records.filter((x) => x.type === 'command.intercepted' && x.action === 'refused').at(-1);
    assert.equal(rec?.type === 'command.intercepted' && rec.requestedUser, 'admin');
  });

  test('AUTH with a wrong number of arguments: the server arity error', async () => {
    const r = await cli('app', ['--no-raw'], 'AUTH\nAUTH a b c\nPING\n');
    assert.deepEqual(lines(r), ["(error) ERR wrong number of arguments for 'auth' command", "(error) ERR wrong number of arguments for 'auth' command", 'PONG']);
  });

  test('inside MULTI: AUTH is QUEUED and OK inside EXEC, in order; a refused AUTH discards the transaction', async () => {
    const c = await raw(tb.tcp('app').port);
    c.send('MULTI\r\nSET app:t 1\r\nAUTH x\r\nINCR app:t\r\nEXEC\r\n');
    const [multi, q1, q2, q3, exec] = await c.replies(5);
    assert.deepEqual([multi, q1, q2, q3].map((v) => replyText(v!)), ['OK', 'QUEUED', 'QUEUED', 'QUEUED']);
    assert.deepEqual(exec, { type: 'array', value: [{ type: 'simple', value: 'OK' }, { type: 'simple', value: 'OK' }, { type: 'integer', value: 2n }] });
    c.send('MULTI\r\nINCR app:t\r\nAUTH root x\r\nEXEC\r\nGET app:t\r\n');
    const [, , refused, aborted, after] = await c.replies(5);
    assert.match(replyText(refused!), /AUTH as root refused/);
    assert.match(replyText(aborted!), /^EXECABORT/);
    assert.equal(replyText(after!), '2');
    c.socket.destroy();
  });

  test('HELLO: the version the client asks for, AUTH removed, SETNAME forwarded; HELLO as another user refused', async () => {
    const c = await raw(tb.tcp('app').port);
    c.send('HELLO 3 AUTH app whatever SETNAME via-broker\r\nCLIENT GETNAME\r\nHELLO 2 AUTH root pw\r\nHELLO 2\r\nCLIENT INFO\r\n');
    const [hello3, name, refused, hello2, info] = await c.replies(5);
    assert.equal(hello3!.type, 'map', 'RESP3 map');
    assert.equal(replyText(replyFields(hello3!).get('proto')!), '3');
    assert.equal(replyText(name!), 'via-broker');
    assert.match(replyText(refused!), /AUTH as root refused/);
    assert.equal(hello2!.type, 'array', 'back to RESP2');
    assert.match(replyText(info!), /name=via-broker .*user=app .*resp=2/);
    c.socket.destroy();
  });

  test('RESP3 HELLO as the very first bytes, before the login ends', async () => {
    const c = await raw(tb.tcp('app').port);
    c.send('HELLO 3\r\nPING\r\n');
    const [hello, pong] = await c.replies(2);
    assert.equal(hello!.type, 'map');
    assert.deepEqual(pong, { type: 'simple', value: 'PONG' });
    c.socket.destroy();
  });

  test('not intercepted: ACL, CONFIG SET, MIGRATE ... AUTH, CLIENT commands go to the server', async () => {
    const admin = await cli('admin', ['--no-raw'], `ACL WHOAMI\nCONFIG SET maxmemory-policy noeviction\nMIGRATE 127.0.0.1 ${await closedPort()} k 0 100 AUTH pw\n`);
    const out = lines(admin).map((l) => l.replace(/^\(error\) /, '').replace(/^"(.*)"$/, '$1'));
    assert.equal(out[0], 'default');
    assert.equal(out[1], 'OK');
    assert.match(out[2]!, /^(NOKEY|IOERR)/, 'answered by the server');
  });

  test('10 000 pipelined commands (an AUTH among them) written before the login ends: all answered, in order', async () => {
    const c = await raw(tb.tcp('gated').port);
    await acl.cli(['DEL', 'app:counter']);
    const parts: string[] = ['HELLO 3\r\n'];
    for (let k = 1; k <= 10_000; k++) parts.push(k === 5000 ? 'AUTH x\r\n' : `*2\r\n$4\r\nINCR\r\n$11\r\napp:counter\r\n`);
    const all = Buffer.from(parts.join(''));
    // Everything is written before the gate lets the server's login replies through.
    c.socket.write(all);
    gate.release();
    const replies = await c.replies(10_001);
    assert.equal(replies[0]!.type, 'map');
    const values = replies.slice(1).map(replyText);
    const expected: string[] = [];
    for (let k = 1, n = 0; k <= 10_000; k++) expected.push(k === 5000 ? 'OK' : String(++n));
    assert.deepEqual(values, expected);
    c.socket.destroy();
  });
});

describe('redis-cli features', () => {
  test('--scan, subscribe, MONITOR (AUTH redacted), BLPOP with a timeout, EVAL', async () => {
    await acl.cli([], Array.from({ length: 30 }, (_, k) => `SET app:scan:${k} ${k}`).join('\n') + '\n');
    const scan = await cli('app', ['--scan', '--pattern', 'app:scan:*']);
    assert.equal(scan.stdout.trim().split('\n').length, 30);

    const monitorOut: string[] = [];
    const monitor = await raw(join(dir, 'redis.sock'));
    monitor.send('MONITOR\r\n');
    assert.deepEqual(await monitor.replies(1), [{ type: 'simple', value: 'OK' }]);
    monitor.socket.on('data', (d) => monitorOut.push(d.toString()));

    const sub = await raw(tb.tcp('app').port);
    sub.send('SUBSCRIBE app:news\r\n');
    await sub.replies(1);
    const pub = await cli('app', [], 'PUBLISH app:news hello-subscriber\nAUTH again\nEVAL "return redis.call(\'SET\', KEYS[1], ARGV[1])" 1 app:lua 42\nGET app:lua\n');
    assert.deepEqual(lines(pub), ['1', 'OK', 'OK', '42']);
    const [message] = await sub.replies(1);
    assert.deepEqual(message!.type === 'array' && message.value.map(replyText), ['message', 'app:news', 'hello-subscriber']);

    const blocked = await raw(tb.tcp('app').port);
    blocked.send('BLPOP app:queue 30\r\n');
    const popped = blocked.replies(1);
    await cli('app', ['RPUSH', 'app:queue', 'job-1']);
    assert.deepEqual(((await popped)[0] as { value: RespValue[] }).value.map(replyText), ['app:queue', 'job-1']);
    const timeout = await cli('app', ['BLPOP', 'app:empty', '0.1']);
    assert.equal(timeout.stdout.trim(), '');

    while (!monitorOut.join('').includes('"GET" "app:lua"')) await new Promise<void>((r) => monitor.socket.once('data', () => r()));
    const seen = monitorOut.join('');
    assert.match(seen, /"auth" "\(redacted\)"|"AUTH" "\(redacted\)"/i);
    assert.ok(!seen.includes(acl.app.password), 'MONITOR never shows the password');
    for (const s of [monitor, sub, blocked]) s.socket.destroy();
  });
});

describe('transparency: the same replies as a direct connection, however the requests are framed and chunked', () => {
  /** All bytes the server sends until `done` says the replies are complete or the connection closes. */
  async function exchange(target: { port: number } | { path: string }, pre: string, stream: Buffer, cuts: number[], done: (b: Buffer) => boolean): Promise<Buffer> {
    const socket = 'path' in target ? net.connect({ path: target.path }) : net.connect({ host: '127.0.0.1', port: target.port });
    const chunks: Buffer[] = [];
    const finished = new Promise<void>((resolve) => {
      socket.on('data', (d) => {
        chunks.push(d);
        if (done(Buffer.concat(chunks))) resolve();
      });
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
    await new Promise((r) => socket.once('connect', r));
    if (pre) socket.write(pre);
    let prev = 0;
    for (const c of [...cuts, stream.length]) {
      socket.write(stream.subarray(prev, c));
      prev = c;
      await new Promise((r) => setImmediate(r));
    }
    await finished;
    socket.destroy();
    return Buffer.concat(chunks);
  }

  test('200 random request streams (multibulk and inline, quoting, empty requests, binary values, a protocol error at the end of some)', async () => {
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const word = () => ['a', 'b c', 'x\r\ny', '*1', '$3', '"q"', "it's", '', 'AUTH', 'hello'][rand(10)]!;
    const pieces = [
      () => {
        const w = word();
        return Buffer.from(`*2\r\n$4\r\nECHO\r\n$${Buffer.byteLength(w)}\r\n${w}\r\n`);
      },
      () => Buffer.from(`echo plain${rand(100)}\r\n`),
      () => Buffer.from(`ECHO "quoted ${rand(9)}\\x41\\n"\n`),
      () => Buffer.from(`  PING  \r\n`),
      () => Buffer.from('*0\r\n'),
      () => Buffer.from('*-1\r\n'),
      () => Buffer.from('\r\n'),
      () => Buffer.from(`*3\r\n$4\r\nECHO\r\n$1\r\nz\r\n$1\r\nz\r\n`), // wrong arity: an error reply, the connection stays
      () => Buffer.concat([Buffer.from('*2\r\n$4\r\nECHO\r\n$300\r\n'), Buffer.alloc(300, 0x2a), Buffer.from('\r\n')]),
    ];
    const malformed = ['*x\r\n', '*1\r\n$-5\r\n', '*1\r\n#\r\n', '*2\r\n$4\r\nECHO\r\n$x\r\n', 'ECHO "unbalanced\r\n', '*01\r\n'];
    const endMark = Buffer.from('*2\r\n$4\r\nECHO\r\n$7\r\n__end__\r\n');
    const endsWithMark = (b: Buffer) => b.subarray(-15).toString().endsWith('$7\r\n__end__\r\n');
    for (let round = 0; round < 200; round++) {
      const parts: Buffer[] = [];
      for (let k = 0; k < 20 + rand(30); k++) parts.push(pieces[rand(pieces.length)]!());
      const bad = rand(3) === 0 ? malformed[rand(malformed.length)]! : undefined;
      parts.push(bad ? Buffer.from(bad) : endMark);
      const stream = Buffer.concat(parts);
      const cuts = [...new Set(Array.from({ length: rand(6) }, () => 1 + rand(stream.length - 1)))].sort((x, y) => x - y);
      const [viaBroker, direct] = await Promise.all([
        exchange({ port: tb.tcp('admin').port }, '', stream, cuts, endsWithMark),
        exchange({ path: acl.socket }, `AUTH ${acl.defaultPassword}\r\n`, stream, cuts, endsWithMark),
      ]);
      assert.equal(viaBroker.toString('latin1'), direct.toString('latin1').replace(/^\+OK\r\n/, ''), `stream ${round}: ${JSON.stringify(stream.toString('latin1').slice(0, 300))}`);
    }
  });
});

describe('redaction', () => {
  test('no password in any client output, log line or audit record', () => {
    const everything = clientOutput.join('\n') + tb.output();
    for (const secret of [...acl.secrets(), tlsOnly.defaultPassword, noHello.defaultPassword, WRONG_PASSWORD, tlsOnly.certs!.client.key.split('\n')[1]!])
      assert.ok(!everything.includes(secret), 'a secret leaked');
    assert.ok(everything.length > 10_000, 'there was output to search');
  });
});
