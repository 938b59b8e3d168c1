// The pg connector against a real PostgreSQL 15 with every auth method and sslmode,
// through real clients (psql, pgbench, node-postgres). All broker output is searched
// for the passwords at the end.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { closedPort } from '../fixtures/free-port.js';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { clientEnv, psql, run } from '../fixtures/run.js';
import { waitFor } from '../fixtures/wait-for.js';

let cluster: PgCluster;
let tb: TestBroker;
let sockDir: string;
let silent: net.Server;
const clientOutput: string[] = [];
const WRONG_PASSWORD = `wrong-${randomBytes(8).toString('hex')}`;

function service(name: string, creds: Record<string, string | number>, extra = ''): string {
  const lines = Object.entries(creds).map(([k, v]) => `      ${k}: ${typeof v === 'string' && v.startsWith('{') ? v : JSON.stringify(v)}`);
  return `  ${name}:\n    connector: pg\n    listenOn: tcp://127.0.0.1:0\n    verboseClientErrors: true # the tests check each error's details\n    credentials:\n${lines.join('\n')}\n${extra}`;
}

before(async () => {
  cluster = await startPgCluster({ tls: true });
  sockDir = mkdtempSync(join(tmpdir(), 'sl-pgsock-'));
  const c = cluster;
  const certs = c.certs!;
  const base = { host: '127.0.0.1', port: c.port };
  const scram = { ...base, username: c.users.scram.name, password: '{ from: env, get: PW_SCRAM }' };
  const downPort = await closedPort();
  // A target that accepts connections and never says a word.
  silent = net.createServer((s) => s.on('error', () => {}));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  const silentPort = (silent.address() as net.AddressInfo).port;
  const yaml = `version: "2"
services:
${service('scram', { ...scram, sslmode: 'disable' })}
  scram-unix:
    connector: pg
    listenOn: unix://${sockDir}/.s.PGSQL.5432
    credentials:
      host: 127.0.0.1
      port: ${c.port}
      username: ${c.users.scram.name}
      password: { from: env, get: PW_SCRAM }
      sslmode: disable
${service('md5', { ...base, username: c.users.md5.name, password: '{ from: env, get: PW_MD5 }', sslmode: 'disable' })}
${service('plain', { ...base, username: c.users.plain.name, password: '{ from: env, get: PW_PLAIN }', sslmode: 'require' })}
${service('trust', { ...base, username: c.users.trust.name, sslmode: 'disable' })}
${service('cert', { ...base, username: c.users.cert.name, sslmode: 'verify-full', sslrootcert: certs.ca.certPath, sslcert: certs.client.certPath, sslkey: certs.client.keyPath })}
${service('plus', { ...base, username: c.users.tlsonly.name, password: '{ from: env, get: PW_TLSONLY }', sslmode: 'verify-full', sslrootcert: certs.ca.certPath })}
${service('prefer', { ...scram, sslmode: 'prefer' })}
${service('require', { ...scram, sslmode: 'require' })}
${service('verify-ca', { ...scram, sslmode: 'verify-ca', sslrootcert: certs.ca.certPath })}
${service('verify-full', { ...scram, sslmode: 'verify-full', sslhost: 'localhost', sslrootcert: '{ from: env, get: CA_PEM }' })}
${service('wrong-ca', { ...scram, sslmode: 'verify-ca', sslrootcert: certs.wrongCa.certPath })}
${service('wrong-ca-full', { ...scram, sslmode: 'verify-full', sslrootcert: certs.wrongCa.certPath })}
${service('wrong-host', { ...scram, sslmode: 'verify-full', sslhost: 'db.example.com', sslrootcert: certs.ca.certPath })}
${service('wrong-password', { ...base, username: c.users.scram.name, password: '{ from: env, get: PW_WRONG }', sslmode: 'disable' })}
${service('down', { host: '127.0.0.1', port: downPort, username: 'x', password: '{ from: env, get: PW_SCRAM }', sslmode: 'disable' })}
${service('silent', { host: '127.0.0.1', port: silentPort, username: 'x', sslmode: 'disable' }, '    config:\n      authTimeoutMs: 300\n')}
${service('no-secret', { ...base, username: c.users.scram.name, password: '{ from: env, get: PW_NOT_SET }', sslmode: 'disable' })}
${service('client-tls', { ...scram, sslmode: 'disable' }, '    config:\n      clientTls: true\n')}
${service('app-name', { ...scram, sslmode: 'disable', application_name: 'from-config' })}
`;
  tb = await startTestBroker(yaml, {
    env: {
      PW_SCRAM: c.users.scram.password,
      PW_MD5: c.users.md5.password,
      PW_PLAIN: c.users.plain.password,
      PW_TLSONLY: c.users.tlsonly.password,
      PW_WRONG: WRONG_PASSWORD,
      CA_PEM: c.certs!.ca.cert,
    },
  });
});

after(async () => {
  silent?.close();
  await tb?.stop();
  await cluster?.stop();
});

async function viaPsql(name: string, sql: string): Promise<string> {
  const { host, port } = tb.tcp(name);
  const r = await psql(host, port, sql);
  clientOutput.push(r.stdout, r.stderr);
  assert.equal(r.code, 0, `psql via ${name} failed: ${r.stderr}`);
  return r.stdout.trim();
}

async function psqlError(name: string): Promise<string> {
  const { host, port } = tb.tcp(name);
  const r = await psql(host, port, 'select 1');
  clientOutput.push(r.stdout, r.stderr);
  assert.notEqual(r.code, 0, `psql via ${name} should fail`);
  return r.stderr;
}

/** The audit 'authenticated' record of the newest connection of a service. */
function lastAuth(name: string) {
  const recs = tb.audit.records.filter((r) => r.type === 'connection.authenticated' && r.service === name);
  const last = recs.at(-1);
  assert.ok(last && last.type === 'connection.authenticated', `no authenticated record for ${name}`);
  return last;
}

async function pgError(name: string, database = 'app'): Promise<Error & { code?: string }> {
  const { host, port } = tb.tcp(name);
  const client = new pg.Client({ host, port, database, user: 'whoever', ssl: false });
  const err = await client.connect().then(
    () => undefined,
    (e: Error) => e,
  );
  await client.end().catch(() => {});
  assert.ok(err, `connecting via ${name} should fail`);
  clientOutput.push(err.message);
  return err as Error & { code?: string };
}

describe('psql through the broker', () => {
  test('runs queries as the configured user over TCP, with no password from the client', async () => {
    assert.equal(await viaPsql('scram', 'select current_user, current_database()'), 'scram_user|app');
  });

  test('runs queries over a 0600 Unix socket', async () => {
    const r = await run('psql', ['-X', '-h', sockDir, '-p', '5432', '-U', 'nobody', '-d', 'app', '-Atc', 'select current_user'], { env: clientEnv() });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'scram_user');
  });

  test('forwards startup options the client sets (application_name, options)', async () => {
    const { host, port } = tb.tcp('scram');
    const r = await run('psql', ['-X', '-Atc', 'show application_name; show search_path', `host=${host} port=${port} dbname=app user=x application_name=my-tool options='-c search_path=pg_catalog'`], { env: clientEnv() });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['my-tool', 'pg_catalog']);
  });

  test('credential keys the connector does not know become startup parameters, overriding the client', async () => {
    assert.equal(await viaPsql('app-name', 'show application_name'), 'from-config');
  });

  test('a database that does not exist gets the backend error unchanged', async () => {
    const err = await pgError('scram', 'no_such_db');
    assert.equal(err.code, '3D000');
    assert.match(err.message, /database "no_such_db" does not exist/);
  });
});

describe('backend authentication methods', () => {
  const cases: [string, string, string][] = [
    ['scram', 'scram_user', 'scram-sha-256'],
    ['md5', 'md5_user', 'md5'],
    ['plain', 'plain_user', 'password'],
    ['trust', 'trust_user', 'trust'],
    ['cert', 'certuser', 'cert'],
    ['plus', 'tlsonly_user', 'scram-sha-256-plus'],
  ];
  for (const [svc, user, method] of cases) {
    test(`${method}`, async () => {
      assert.equal(await viaPsql(svc, 'select current_user'), user);
      assert.equal(lastAuth(svc).authMethod, method);
    });
  }
});

describe('backend TLS (sslmode)', () => {
  const ok: [string, boolean][] = [
    ['scram', false],
    ['prefer', true],
    ['require', true],
    ['verify-ca', true],
    ['verify-full', true],
  ];
  for (const [svc, tls] of ok) {
    test(`${svc === 'scram' ? 'disable' : svc} connects${tls ? ' over TLS' : ' in plain text'}`, async () => {
      assert.equal(await viaPsql(svc, 'select ssl from pg_stat_ssl where pid = pg_backend_pid()'), tls ? 't' : 'f');
      assert.equal(lastAuth(svc).tls, tls);
    });
  }

  test('verify-ca with the wrong CA fails with a clear error', async () => {
    const err = await pgError('wrong-ca');
    assert.equal(err.code, '08001');
    assert.match(err.message, /TLS to 127\.0\.0\.1:\d+ failed: the server certificate is not signed by the configured sslrootcert/);
  });

  test('verify-full with the wrong CA fails with a clear error', async () => {
    const err = await pgError('wrong-ca-full');
    assert.equal(err.code, '08001');
    assert.match(err.message, /not signed by the configured sslrootcert/);
  });

  test('verify-full with a host name the certificate does not carry fails with a clear error', async () => {
    const err = await pgError('wrong-host');
    assert.equal(err.code, '08001');
    assert.match(err.message, /does not match the expected host name/);
    assert.match(err.message, /db\.example\.com/);
  });
});

describe('node-postgres through the broker', () => {
  test('sslmode=disable', async () => {
    const { host, port } = tb.tcp('scram');
    const client = new pg.Client({ connectionString: `postgresql://anyone@${host}:${port}/app?sslmode=disable` });
    await client.connect();
    const r = await client.query('select current_user as u, $1::int + 1 as n', [41]);
    assert.deepEqual(r.rows, [{ u: 'scram_user', n: 42 }]);
    await client.end();
  });

  test('sslmode=prefer: the broker answers with TLS on a clientTls service', async () => {
    const { host, port } = tb.tcp('client-tls');
    const client = new pg.Client({ connectionString: `postgresql://anyone@${host}:${port}/app?sslmode=prefer&uselibpqcompat=true` });
    await client.connect();
    assert.equal((await client.query('select current_user as u')).rows[0].u, 'scram_user');
    await client.end();
  });

  test('verify-full against the broker certificate (node-postgres default for prefer)', async () => {
    const { port } = tb.tcp('client-tls');
    const client = new pg.Client({ host: 'localhost', port, database: 'app', user: 'x', ssl: { ca: (await tb.localCertificate()).certPem } });
    await client.connect();
    assert.equal((await client.query('select 1 as one')).rows[0].one, 1);
    await client.end();
  });

  test('psql with sslmode=require works against a clientTls service', async () => {
    const { host, port } = tb.tcp('client-tls');
    const r = await run('psql', ['-X', '-Atc', 'select current_user', `host=${host} port=${port} dbname=app user=x sslmode=require`], { env: clientEnv() });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'scram_user');
  });
});

describe('cancel and load', () => {
  test('Ctrl-C in psql cancels a running query through the broker', async () => {
    const { host, port } = tb.tcp('scram');
    const started = Date.now();
    let psqlProcess: import('node:child_process').ChildProcess | undefined;
    const child = run('psql', ['-X', '-h', host, '-p', String(port), '-U', 'x', '-d', 'app', '-c', 'select pg_sleep(60)'], {
      env: clientEnv(),
      onSpawn: (c) => (psqlProcess = c),
    });
    // Wait until the query is running on the backend, then interrupt psql.
    await waitFor('the query running on the backend', async () => (await cluster.psql("select count(*) from pg_stat_activity where query = 'select pg_sleep(60)' and state = 'active'")).trim() === '1');
    psqlProcess!.kill('SIGINT'); // what Ctrl-C does
    const r = await child;
    clientOutput.push(r.stderr);
    assert.match(r.stderr, /canceling statement due to user request/);
    assert.ok(Date.now() - started < 30_000, 'the query was cancelled, not finished');
    assert.ok(tb.audit.records.some((x) => x.type === 'cancel.forwarded' && x.service === 'scram'));
  });

  test('pgbench runs a short select-only load', async () => {
    const { host, port } = tb.tcp('scram');
    const common = ['-h', host, '-p', String(port), '-U', 'x'];
    const init = await run('pgbench', ['-i', '-s', '1', '-q', ...common, 'app'], { env: clientEnv(), timeoutMs: 120_000 });
    assert.equal(init.code, 0, init.stderr);
    const r = await run('pgbench', ['-S', '-T', '3', '-c', '4', '-j', '2', ...common, 'app'], { env: clientEnv(), timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const processed = Number(r.stdout.match(/number of transactions actually processed: (\d+)/)?.[1]);
    assert.ok(processed > 100, `pgbench processed ${processed} transactions`);
    assert.match(r.stdout, /number of failed transactions: 0 /);
  });
});

/** Sends raw bytes to the listener and collects the reply until the broker closes. */
function rawExchange(name: string, payload: Buffer, opts: { end?: boolean } = {}): Promise<Buffer> {
  const { host, port } = tb.tcp(name);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect({ host, port }, () => {
      s.write(payload);
      if (opts.end) s.end();
    });
    s.on('data', (d) => chunks.push(d));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks)));
    s.setTimeout(10_000, () => s.destroy(new Error('broker did not close the connection')));
  });
}

function errorFields(reply: Buffer): Map<string, string> {
  assert.equal(String.fromCharCode(reply[0]!), 'E', `expected an ErrorResponse, got ${reply.subarray(0, 16).toString('hex')}`);
  const fields = new Map<string, string>();
  let pos = 5;
  while (reply[pos] !== 0 && pos < reply.length) {
    const end = reply.indexOf(0, pos + 1);
    fields.set(String.fromCharCode(reply[pos]!), reply.toString('utf8', pos + 1, end));
    pos = end + 1;
  }
  return fields;
}

describe('bad input and failures', () => {
  test('a 1 GB declared startup length is closed without a reply, as PostgreSQL does', async () => {
    const pkt = Buffer.alloc(8);
    pkt.writeInt32BE(1 << 30, 0);
    pkt.writeInt32BE(196608, 4);
    assert.equal((await rawExchange('scram', pkt)).length, 0);
    assert.ok(tb.audit.records.some((r) => r.type === 'connection.failed' && /invalid length of startup packet/.test(r.reason)));
  });

  test('random bytes get 08P01 and a closed socket', async () => {
    for (let i = 0; i < 20; i++) {
      const junk = randomBytes(64);
      junk.writeInt32BE(64, 0); // a plausible length, so the random body is what gets judged
      const f = errorFields(await rawExchange('scram', junk));
      assert.equal(f.get('C'), '08P01');
    }
  });

  test('a malformed startup body (unterminated parameters) gets 08P01', async () => {
    const body = Buffer.from('user\0bob\0database', 'utf8');
    const pkt = Buffer.alloc(8 + body.length);
    pkt.writeInt32BE(pkt.length, 0);
    pkt.writeInt32BE(196608, 4);
    body.copy(pkt, 8);
    const f = errorFields(await rawExchange('scram', pkt));
    assert.equal(f.get('C'), '08P01');
  });

  test('GSSENCRequest and SSLRequest are both answered N, then the startup proceeds', async () => {
    const request = (code: number) => {
      const b = Buffer.alloc(8);
      b.writeInt32BE(8, 0);
      b.writeInt32BE(code, 4);
      return b;
    };
    const params = Buffer.from('user\0x\0database\0app\0\0');
    const startup = Buffer.alloc(8 + params.length);
    startup.writeInt32BE(startup.length, 0);
    startup.writeInt32BE(196608, 4);
    params.copy(startup, 8);
    const { host, port } = tb.tcp('scram');
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const s = net.connect({ host, port }, () => s.write(request(80877104)));
      s.on('data', (d) => {
        chunks.push(d);
        const all = Buffer.concat(chunks);
        if (all.length === 1) s.write(request(80877103));
        else if (all.length === 2) s.write(startup);
        else if (all.includes(Buffer.from([0x5a, 0, 0, 0, 5]))) {
          s.end();
          resolve(all);
        }
      });
      s.on('error', reject);
    });
    assert.equal(reply.subarray(0, 2).toString(), 'NN');
    assert.equal(reply.subarray(2, 11).toString('hex'), '520000000800000000'); // AuthenticationOk
  });

  test('a truncated startup packet followed by close is dropped quietly', async () => {
    const pkt = Buffer.alloc(6);
    pkt.writeInt32BE(40, 0);
    const reply = await rawExchange('scram', pkt, { end: true });
    assert.equal(reply.length, 0);
  });

  test('an unreachable target gives 08001 naming the target', async () => {
    const err = await pgError('down');
    assert.equal(err.code, '08001');
    assert.match(err.message, /cannot reach the target 127\.0\.0\.1:\d+ of service 'down': connection refused/);
  });

  test('a target that accepts and never answers times out with 08006 instead of hanging', async () => {
    const started = Date.now();
    const err = await pgError('silent');
    assert.equal(err.code, '08006');
    assert.match(err.message, /the target of service 'silent' did not complete the login in time/);
    assert.ok(Date.now() - started < 5000);
  });

  test('a wrong configured password gives 28P01 saying the broker credentials were rejected', async () => {
    const err = await pgError('wrong-password');
    assert.equal(err.code, '28P01');
    assert.match(err.message, /rejected the broker's configured credentials for service 'wrong-password'/);
  });

  test('a provider failure names the provider and the id', async () => {
    const err = await pgError('no-secret');
    assert.equal(err.code, '08001');
    assert.match(err.message, /env/);
    assert.match(err.message, /PW_NOT_SET/);
  });

  test('the target going down mid-run: new connections get 08001, then work again when it is back', async () => {
    await cluster.kill();
    try {
      const err = await pgError('scram');
      assert.equal(err.code, '08001');
    } finally {
      await cluster.start();
    }
    assert.equal(await viaPsql('scram', 'select 1'), '1');
  });

  test('after all that the broker still serves every working service', async () => {
    assert.equal(await viaPsql('scram', 'select 2'), '2');
    assert.equal(await viaPsql('md5', 'select 3'), '3');
  });
});

describe('audit and secrets', () => {
  test('every connection is opened, authenticated or failed, and closed, with byte counts', async () => {
    const before = tb.audit.records.length;
    await viaPsql('scram', 'select 4');
    // psql has exited; the broker audits the close once it sees the socket end.
    await waitFor("this connection's connection.closed record", () => {
      const mine = tb.audit.records.slice(before).find((r) => r.type === 'connection.opened');
      return !!mine && tb.audit.records.some((r) => r.type === 'connection.closed' && r.connectionId === mine.connectionId);
    });
    const recs = tb.audit.records;
    const closed = recs.filter((r) => r.type === 'connection.closed');
    const opened = recs.filter((r) => r.type === 'connection.opened');
    assert.ok(opened.length >= closed.length && closed.length > 20);
    let withoutOutcome = 0;
    for (const c of closed) {
      assert.ok(c.type === 'connection.closed');
      const id = c.connectionId;
      assert.ok(recs.some((r) => r.type === 'connection.opened' && r.connectionId === id), `opened for ${id}`);
      const outcome = recs.some((r) => (r.type === 'connection.authenticated' || r.type === 'connection.failed') && r.connectionId === id);
      if (!outcome) withoutOutcome++;
    }
    // Only the cancel request's connection has neither outcome: it never authenticates.
    assert.ok(withoutOutcome <= 1, `${withoutOutcome} connections without an outcome`);
    const ok = closed.find((c) => c.type === 'connection.closed' && c.bytesToClient > 100)!;
    assert.ok(ok && ok.type === 'connection.closed' && ok.bytesFromClient > 0 && ok.durationMs >= 0);
    const fetched = recs.filter((r) => r.type === 'credential.fetched' && r.service === 'scram');
    assert.ok(fetched.some((r) => r.type === 'credential.fetched' && r.provider === 'env' && r.id === 'PW_SCRAM'));
  });

  test('no password appears in logs, audit records or client-visible errors', () => {
    const everything = tb.output() + clientOutput.join('\n');
    assert.ok(everything.length > 1000);
    const secrets = [cluster.users.scram.password, cluster.users.md5.password, cluster.users.plain.password, cluster.users.tlsonly.password, WRONG_PASSWORD];
    for (const secret of secrets) {
      assert.ok(secret.length >= 8);
      assert.ok(!everything.includes(secret), 'a password leaked into the output');
    }
  });
});
