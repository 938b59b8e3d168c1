// Proves the PostgreSQL harness: every role authenticates with its own method.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';

describe('pg harness', () => {
  let cluster: PgCluster;

  before(async () => {
    cluster = await startPgCluster({ tls: true });
  });

  after(async () => {
    await cluster?.stop();
  });

  async function query(config: pg.ClientConfig): Promise<string> {
    const client = new pg.Client({
      host: cluster.host,
      port: cluster.port,
      database: cluster.database,
      ssl: false,
      connectionTimeoutMillis: 10_000,
      ...config,
    });
    await client.connect();
    try {
      const res = await client.query<{ who: string }>('SELECT current_user AS who');
      return res.rows[0]!.who;
    } finally {
      await client.end();
    }
  }

  const tls = (): pg.ClientConfig['ssl'] => ({ ca: cluster.certs!.ca.cert, servername: 'localhost' });

  it('psql runs as superuser over the unix socket', async () => {
    assert.equal((await cluster.psql('SELECT current_user')).trim(), 'postgres');
    assert.equal((await cluster.psql('SHOW ssl')).trim(), 'on');
  });

  it('stores md5_user as an md5 hash and scram_user as a scram verifier', async () => {
    const rows = await cluster.psql(
      "SELECT rolname || '=' || split_part(rolpassword, '$', 1) FROM pg_authid WHERE rolname IN ('md5_user','scram_user') ORDER BY 1",
      { database: 'postgres' },
    );
    const [md5, scram] = rows.trim().split('\n');
    assert.match(md5!, /^md5_user=md5[0-9a-f]{32}$/);
    assert.equal(scram, 'scram_user=SCRAM-SHA-256');
  });

  for (const key of ['scram', 'md5', 'plain', 'trust'] as const) {
    it(`${key} user connects over plain TCP`, async () => {
      const user = cluster.users[key];
      assert.equal(await query({ user: user.name, password: user.password }), user.name);
    });
  }

  it('certuser connects with its client certificate over TLS', async () => {
    const { ca, client } = cluster.certs!;
    const who = await query({ user: cluster.users.cert.name, ssl: { ca: ca.cert, cert: client.cert, key: client.key, servername: 'localhost' } });
    assert.equal(who, 'certuser');
  });

  it('certuser without a client certificate is rejected', async () => {
    await assert.rejects(query({ user: cluster.users.cert.name, ssl: tls() }), /certificate|authentication/i);
  });

  it('tlsonly_user connects over TLS and is rejected without it', async () => {
    const user = cluster.users.tlsonly;
    assert.equal(await query({ user: user.name, password: user.password, ssl: tls() }), user.name);
    await assert.rejects(query({ user: user.name, password: user.password }), (err: { code?: string }) => err.code === '28000');
  });

  it('the server certificate does not verify against the wrong CA', async () => {
    const user = cluster.users.scram;
    await assert.rejects(query({ user: user.name, password: user.password, ssl: { ca: cluster.certs!.wrongCa.cert, servername: 'localhost' } }));
  });

  it('a wrong password is rejected for every password method', async () => {
    for (const key of ['scram', 'md5', 'plain'] as const) {
      const name = cluster.users[key].name;
      await assert.rejects(query({ user: name, password: 'not-the-password' }), (err: { code?: string }) => err.code === '28P01');
    }
  });

  it('setPassword changes the password and keeps md5 storage', async () => {
    const md5 = cluster.users.md5;
    const old = md5.password;
    await cluster.setPassword(md5.name, "new'pass");
    assert.equal(md5.password, "new'pass");
    await assert.rejects(query({ user: md5.name, password: old }));
    assert.equal(await query({ user: md5.name, password: "new'pass" }), md5.name);
    const stored = await cluster.psql("SELECT rolpassword LIKE 'md5%' FROM pg_authid WHERE rolname = 'md5_user'");
    assert.equal(stored.trim(), 't');
  });

  it('kill makes the target unreachable and start brings it back on the same port', async () => {
    const user = cluster.users.scram;
    const port = cluster.port;
    await cluster.kill();
    await assert.rejects(query({ user: user.name, password: user.password }), (err: { code?: string }) => err.code === 'ECONNREFUSED');
    await cluster.start();
    assert.equal(cluster.port, port);
    assert.equal(await query({ user: user.name, password: user.password }), user.name);
  });
});
