// A rotated password (file provider, the way an external rotator writes it): new
// connections use the new value at once, the open session keeps running, and the
// broker never shows either value.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';

let cluster: PgCluster;
let tb: TestBroker;
let secretFile: string;

before(async () => {
  cluster = await startPgCluster();
  secretFile = join(mkdtempSync(join(tmpdir(), 'sl-rot-')), 'pg-password');
  writeFileSync(secretFile, cluster.users.scram.password + '\n', { mode: 0o600 });
  tb = await startTestBroker(`version: "2"
services:
  app:
    connector: pg
    listenOn: tcp://127.0.0.1:0
    credentials:
      host: 127.0.0.1
      port: ${cluster.port}
      username: scram_user
      password: { from: file, get: ${secretFile} }
      sslmode: disable
`);
});
after(async () => {
  await tb?.stop();
  await cluster?.stop();
});

async function connect(): Promise<pg.Client> {
  const { host, port } = tb.tcp('app');
  const client = new pg.Client({ host, port, database: 'app', user: 'x' });
  await client.connect();
  return client;
}

test('after the password rotates, new connections use the new one and the open session keeps working', async () => {
  const held = await connect();
  assert.equal((await held.query('select current_user as u')).rows[0].u, 'scram_user');

  const original = cluster.users.scram.password;
  const rotated = `rot-${randomBytes(12).toString('hex')}`;
  await cluster.setPassword('scram_user', rotated);
  writeFileSync(secretFile, rotated + '\n');

  // The old value is now wrong at the server, so this only works with the new one.
  const fresh = await connect();
  assert.equal((await fresh.query('select 1 as one')).rows[0].one, 1);
  assert.equal((await held.query('select 2 as two')).rows[0].two, 2);
  await fresh.end();
  await held.end();

  const output = tb.output();
  assert.ok(!output.includes(rotated) && !output.includes(original), 'a password leaked');
});
