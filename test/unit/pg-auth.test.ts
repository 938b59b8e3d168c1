// PostgreSQL password authentication: MD5 against the documented formula, and the
// SCRAM-SHA-256(-PLUS) client against the RFC 7677 test vector and an independent
// computation for channel binding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { md5PasswordResponse } from '../../broker/connectors/pg/auth-md5.js';
import { ScramError, clearScramCache, createScramClient } from '../../broker/connectors/pg/auth-scram.js';

const md5hex = (data: string | Buffer) => createHash('md5').update(data).digest('hex');

// ---- MD5 ----

test('md5: "md5" + md5hex(md5hex(password + user) + salt)', () => {
  const salt = Buffer.from([0x93, 0x1e, 0x00, 0xff]);
  const expected = 'md5' + md5hex(Buffer.concat([Buffer.from(md5hex('s3cr3t' + 'alice')), salt]));
  const got = md5PasswordResponse('alice', Buffer.from('s3cr3t'), salt);
  assert.ok(Buffer.isBuffer(got));
  assert.equal(got.toString('utf8'), expected);
  assert.equal(got.length, 35);
  assert.match(got.toString('utf8'), /^md5[0-9a-f]{32}$/);
});

test('md5: a fixed known value (computed with Python hashlib, not node:crypto)', () => {
  // pg_authid stores "md5" + md5("foobar" + "postgres") = md5d5d2b7621f9dfa5d09376c9c966bf109;
  // salted with "abcd" as the server asks, the client answers the value below.
  assert.equal(md5hex('foobar' + 'postgres'), 'd5d2b7621f9dfa5d09376c9c966bf109');
  const got = md5PasswordResponse('postgres', Buffer.from('foobar'), Buffer.from('abcd'));
  assert.equal(got.toString(), 'md53048996f18f5b9587ac20c73b9b2672b');
});

test('md5: non-ASCII user names and passwords use their UTF-8 bytes; the salt matters', () => {
  const salt = Buffer.from([1, 2, 3, 4]);
  const expected = 'md5' + md5hex(Buffer.concat([Buffer.from(md5hex(Buffer.from('pässwörd✓' + 'jürgen', 'utf8'))), salt]));
  assert.equal(md5PasswordResponse('jürgen', Buffer.from('pässwörd✓', 'utf8'), salt).toString(), expected);
  assert.notEqual(md5PasswordResponse('jürgen', Buffer.from('pässwörd✓'), Buffer.from([1, 2, 3, 5])).toString(), expected);
});

// ---- SCRAM: RFC 7677 section 3 ----

const RFC = {
  password: 'pencil',
  username: 'user',
  nonce: 'rOprNGfwEbeRWgbNEkqO',
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

function rfcClient(extra: { channelBinding?: Buffer } = {}) {
  return createScramClient({ password: Buffer.from(RFC.password), nonce: RFC.nonce, username: RFC.username, ...extra });
}

test('scram: RFC 7677 test vector, client-first, client-final and server-final', async () => {
  const client = rfcClient();
  assert.equal(client.mechanism, 'SCRAM-SHA-256');
  assert.equal(client.clientFirst().toString('utf8'), RFC.clientFirst);
  const final = await client.clientFinal(Buffer.from(RFC.serverFirst));
  assert.equal(final.toString('utf8'), RFC.clientFinal);
  assert.doesNotThrow(() => client.verifyServerFinal(Buffer.from(RFC.serverFinal)));
});

test('scram: PostgreSQL default user name is empty ("n=,")', () => {
  const client = createScramClient({ password: Buffer.from('x'), nonce: 'abc' });
  assert.equal(client.clientFirst().toString(), 'n,,n=,r=abc');
});

test('scram: a random client nonce is used when none is given, different each time', () => {
  const a = createScramClient({ password: Buffer.from('x') }).clientFirst().toString();
  const b = createScramClient({ password: Buffer.from('x') }).clientFirst().toString();
  assert.match(a, /^n,,n=,r=[A-Za-z0-9+/=]{16,}$/);
  assert.notEqual(a, b);
  assert.ok(!a.slice('n,,n=,r='.length).includes(','));
});

test('scram: a wrong server signature throws ScramError', async () => {
  const client = rfcClient();
  await client.clientFinal(Buffer.from(RFC.serverFirst));
  const wrong = Buffer.from(RFC.serverFinal.slice(2), 'base64');
  wrong[0]! ^= 1;
  assert.throws(() => client.verifyServerFinal(Buffer.from('v=' + wrong.toString('base64'))), ScramError);
  // Truncated signature, and one for a different password.
  assert.throws(() => client.verifyServerFinal(Buffer.from('v=' + wrong.subarray(0, 16).toString('base64'))), ScramError);
  const other = createScramClient({ password: Buffer.from('not pencil'), nonce: RFC.nonce, username: 'user' });
  await other.clientFinal(Buffer.from(RFC.serverFirst));
  assert.throws(() => other.verifyServerFinal(Buffer.from(RFC.serverFinal)), ScramError);
});

test('scram: verifying server-final before client-final, or without v=, throws ScramError', async () => {
  assert.throws(() => rfcClient().verifyServerFinal(Buffer.from(RFC.serverFinal)), ScramError);
  const client = rfcClient();
  await client.clientFinal(Buffer.from(RFC.serverFirst));
  assert.throws(() => client.verifyServerFinal(Buffer.from('x=1')), ScramError);
  assert.throws(() => client.verifyServerFinal(Buffer.from('garbage')), ScramError);
});

test('scram: a server nonce that does not extend the client nonce throws ScramError', async () => {
  const replace = (nonce: string) => Buffer.from(RFC.serverFirst.replace(/^r=[^,]*/, `r=${nonce}`));
  await assert.rejects(rfcClient().clientFinal(replace('XXprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj')), ScramError);
  // Exactly the client nonce: the server contributed nothing.
  await assert.rejects(rfcClient().clientFinal(replace(RFC.nonce)), ScramError);
  // A prefix of the client nonce.
  await assert.rejects(rfcClient().clientFinal(replace(RFC.nonce.slice(0, 10))), ScramError);
});

test('scram: malformed server-first messages throw ScramError', async () => {
  for (const bad of [
    '',
    'garbage',
    `r=${RFC.nonce}xyz,i=4096`, // no salt
    `r=${RFC.nonce}xyz,s=W22ZaJ0SNY7soEsUEjb6gQ==`, // no iterations
    `r=${RFC.nonce}xyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0`,
    `r=${RFC.nonce}xyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=many`,
    `s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`, // no nonce
  ]) {
    await assert.rejects(rfcClient().clientFinal(Buffer.from(bad)), ScramError, JSON.stringify(bad));
  }
});

test("scram: an 'e=' attribute in server-final throws ScramError carrying the server's reason", async () => {
  const client = rfcClient();
  await client.clientFinal(Buffer.from(RFC.serverFirst));
  assert.throws(
    () => client.verifyServerFinal(Buffer.from('e=invalid-proof')),
    (err: unknown) => err instanceof ScramError && /invalid-proof/.test(err.message),
  );
});

test('scram: error messages never contain the password', async () => {
  const password = 'pencil-secret-value';
  const client = createScramClient({ password: Buffer.from(password), nonce: RFC.nonce });
  const errors: unknown[] = [];
  await client.clientFinal(Buffer.from('r=nope,s=AAAA,i=1')).catch((e: unknown) => errors.push(e));
  await client.clientFinal(Buffer.from(RFC.serverFirst));
  try {
    client.verifyServerFinal(Buffer.from(RFC.serverFinal));
  } catch (e) {
    errors.push(e);
  }
  assert.equal(errors.length, 2);
  for (const e of errors) assert.ok(!String((e as Error).message).includes(password));
});

// ---- SCRAM-SHA-256-PLUS: an independent computation (RFC 5802 section 3) ----

function scramExpected(password: string, clientFirstBare: string, serverFirst: string, cbind: Buffer) {
  const attrs = Object.fromEntries(serverFirst.split(',').map((p) => [p[0], p.slice(2)]));
  const salted = pbkdf2Sync(password, Buffer.from(attrs.s!, 'base64'), Number(attrs.i), 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const withoutProof = `c=${cbind.toString('base64')},r=${attrs.r}`;
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const signature = createHmac('sha256', storedKey).update(authMessage).digest();
  const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
  const serverSignature = createHmac('sha256', createHmac('sha256', salted).update('Server Key').digest()).update(authMessage).digest();
  return { clientFinal: `${withoutProof},p=${proof.toString('base64')}`, serverFinal: `v=${serverSignature.toString('base64')}` };
}

test('scram: the independent computation reproduces the RFC 7677 vector (checks the checker)', () => {
  const exp = scramExpected(RFC.password, 'n=user,r=' + RFC.nonce, RFC.serverFirst, Buffer.from('n,,'));
  assert.equal(exp.clientFinal, RFC.clientFinal);
  assert.equal(exp.serverFinal, RFC.serverFinal);
});

test('scram-plus: gs2 header p=tls-server-end-point and c= is base64(header + binding data)', async () => {
  const binding = createHash('sha256').update('a server certificate, DER').digest();
  const client = rfcClient({ channelBinding: binding });
  assert.equal(client.mechanism, 'SCRAM-SHA-256-PLUS');
  const first = client.clientFirst().toString('utf8');
  assert.equal(first, 'p=tls-server-end-point,,n=user,r=' + RFC.nonce);

  const final = (await client.clientFinal(Buffer.from(RFC.serverFirst))).toString('utf8');
  const c = /^c=([^,]*),/.exec(final)?.[1];
  assert.ok(c, final);
  const decoded = Buffer.from(c, 'base64');
  assert.deepEqual(decoded, Buffer.concat([Buffer.from('p=tls-server-end-point,,'), binding]));

  const exp = scramExpected(RFC.password, 'n=user,r=' + RFC.nonce, RFC.serverFirst, decoded);
  assert.equal(final, exp.clientFinal);
  assert.doesNotThrow(() => client.verifyServerFinal(Buffer.from(exp.serverFinal)));
  // The non-PLUS server signature is not accepted for a PLUS exchange (different auth message).
  assert.throws(() => client.verifyServerFinal(Buffer.from(RFC.serverFinal)), ScramError);
});

test('scram-plus: different binding data gives a different proof (the binding is authenticated)', async () => {
  const a = await rfcClient({ channelBinding: Buffer.alloc(32, 1) }).clientFinal(Buffer.from(RFC.serverFirst));
  const b = await rfcClient({ channelBinding: Buffer.alloc(32, 2) }).clientFinal(Buffer.from(RFC.serverFirst));
  const proof = (m: Buffer) => m.toString().split(',p=')[1];
  assert.notEqual(proof(a), proof(b));
  // A 48-byte (SHA-384) binding works as well.
  const c = await rfcClient({ channelBinding: Buffer.alloc(48, 3) }).clientFinal(Buffer.from(RFC.serverFirst));
  const cb = Buffer.from(/^c=([^,]*)/.exec(c.toString())![1]!, 'base64');
  assert.equal(cb.length, 'p=tls-server-end-point,,'.length + 48);
});

// ---- the PBKDF2 cache ----

test('scram: cached and uncached exchanges give identical results; clearScramCache exists', async () => {
  assert.equal(typeof clearScramCache, 'function');
  clearScramCache();
  const cold = await rfcClient().clientFinal(Buffer.from(RFC.serverFirst));
  const warm = await rfcClient().clientFinal(Buffer.from(RFC.serverFirst));
  assert.equal(cold.toString(), RFC.clientFinal);
  assert.equal(warm.toString(), RFC.clientFinal);
  clearScramCache();
  const again = await rfcClient().clientFinal(Buffer.from(RFC.serverFirst));
  assert.equal(again.toString(), RFC.clientFinal);
});

test('scram: the cache is keyed by password, salt and iterations (no cross-talk)', async () => {
  clearScramCache();
  const serverFirst = (salt: string, i: number) => Buffer.from(`r=${RFC.nonce}srv,s=${salt},i=${i}`);
  const cases: [string, string, number][] = [
    ['pencil', 'W22ZaJ0SNY7soEsUEjb6gQ==', 4096],
    ['pencil', 'W22ZaJ0SNY7soEsUEjb6gQ==', 4097],
    ['pencil', 'c2FsdHNhbHRzYWx0c2FsdA==', 4096],
    ['pen', 'W22ZaJ0SNY7soEsUEjb6gQ==', 4096],
  ];
  for (let round = 0; round < 2; round++) {
    for (const [password, salt, i] of cases) {
      const client = createScramClient({ password: Buffer.from(password), nonce: RFC.nonce, username: 'user' });
      const got = await client.clientFinal(serverFirst(salt, i));
      const exp = scramExpected(password, `n=user,r=${RFC.nonce}`, serverFirst(salt, i).toString(), Buffer.from('n,,'));
      assert.equal(got.toString(), exp.clientFinal, `${password}/${salt}/${i}, round ${round}`);
    }
  }
  clearScramCache();
});
