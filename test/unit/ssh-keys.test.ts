// Private key parsing (every format ssh-keygen writes, passphrases), signatures the
// way the agent sends them, public key / known_hosts parsing, host key pinning, and
// the broker's own host key file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import ssh2 from 'ssh2';
import { ensureSshHostKey, generateEd25519, SSH_HOST_KEY_FILE, sshHostKeyFingerprint } from '../../broker/ssh/host-key.js';
import { parseHostKeyPolicy } from '../../broker/ssh/host-verify.js';
import { fingerprintOf, parsePrivateKey, parsePublicKeys, SSH_AGENT_RSA_SHA2_256, SSH_AGENT_RSA_SHA2_512, SshKeyError } from '../../broker/ssh/keys.js';
import { parseAddress } from '../../broker/ssh/target.js';
import { fingerprintOfFile, makeKey } from '../fixtures/sshd.js';

const dir = mkdtempSync(join(tmpdir(), 'sl-sshkeys-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const PASS = 'correct horse battery';

/** Splits an SSH signature blob (string algo, string sig). */
function splitSignature(blob: Buffer): { algo: string; sig: Buffer } {
  const n = blob.readUInt32BE(0);
  const algo = blob.subarray(4, 4 + n).toString();
  const m = blob.readUInt32BE(4 + n);
  return { algo, sig: blob.subarray(8 + n, 8 + n + m) };
}

/** ECDSA blobs are (mpint r, mpint s), checked with node:crypto; the rest with ssh2. */
function verify(pub: ssh2.ParsedKey, algo: string, data: Buffer, sig: Buffer, hash?: string): boolean {
  if (!algo.startsWith('ecdsa-')) return pub.verify(data, sig, hash);
  const r = sig.subarray(4, 4 + sig.readUInt32BE(0));
  const s = sig.subarray(8 + r.length, 8 + r.length + sig.readUInt32BE(4 + r.length));
  const fixed = (n: Buffer) => Buffer.concat([Buffer.alloc(32), n]).subarray(-32);
  return crypto.verify('sha256', data, { key: pub.getPublicPEM(), dsaEncoding: 'ieee-p1363' }, Buffer.concat([fixed(r), fixed(s)]));
}

describe('parsePrivateKey', () => {
  const cases = [
    ['ed25519', undefined],
    ['ecdsa', undefined],
    ['rsa', undefined],
    ['ecdsa', 'PEM'],
    ['rsa', 'PEM'],
    ['ecdsa', 'PKCS8'],
    ['rsa', 'PKCS8'],
  ] as const;
  for (const [type, format] of cases) {
    test(`${type} ${format ?? 'OpenSSH'}: fingerprint as ssh-keygen prints it, signatures verify`, () => {
      const k = makeKey(dir, `${type}-${format ?? 'openssh'}`, type, { format });
      const key = parsePrivateKey(Buffer.from(k.privateText), undefined, 'test key');
      assert.equal(key.fingerprint, fingerprintOfFile(`${k.path}.pub`));
      const pub = ssh2.utils.parseKey(k.publicLine) as ssh2.ParsedKey;
      assert.ok(key.publicBlob.equals(pub.getPublicSSH()));
      const data = Buffer.from('session id and userauth request');
      const flagsList = type === 'rsa' ? [0, SSH_AGENT_RSA_SHA2_256, SSH_AGENT_RSA_SHA2_512] : [0];
      for (const flags of flagsList) {
        const { algo, sig } = splitSignature(key.sign(data, flags));
        const expected = type !== 'rsa' ? key.type : flags & SSH_AGENT_RSA_SHA2_512 ? 'rsa-sha2-512' : flags & SSH_AGENT_RSA_SHA2_256 ? 'rsa-sha2-256' : 'ssh-rsa';
        assert.equal(algo, expected);
        const hash = algo === 'rsa-sha2-512' ? 'sha512' : algo === 'rsa-sha2-256' ? 'sha256' : algo === 'ssh-rsa' ? 'sha1' : undefined;
        assert.equal(verify(pub, algo, data, sig, hash), true, `${algo} verifies`);
        assert.equal(verify(pub, algo, Buffer.from('other data'), sig, hash), false);
      }
    });
  }

  test('encrypted keys: the passphrase opens them; wrong or missing passphrase is named, not shown', () => {
    for (const [type, format] of [['ed25519', undefined], ['rsa', 'PEM'], ['ecdsa', 'PKCS8']] as const) {
      const k = makeKey(dir, `enc-${type}-${format ?? 'openssh'}`, type, { passphrase: PASS, format });
      const key = parsePrivateKey(Buffer.from(k.privateText), Buffer.from(PASS), 'key x');
      assert.equal(key.fingerprint, fingerprintOfFile(`${k.path}.pub`));
      for (const pass of [undefined, Buffer.from('wrong passphrase')]) {
        assert.throws(
          () => parsePrivateKey(Buffer.from(k.privateText), pass, 'key x'),
          (err: Error) => err instanceof SshKeyError && err.message.startsWith('key x') && /passphrase/.test(err.message) && !err.message.includes(PASS),
        );
      }
    }
  });

  test('not a key, or a public key, is a clear error without the text', () => {
    assert.throws(() => parsePrivateKey(Buffer.from('hunter2-secret'), undefined, 'k'), (e: Error) => /not a private key/.test(e.message) && !e.message.includes('hunter2'));
    const k = makeKey(dir, 'pubonly', 'ed25519');
    assert.throws(() => parsePrivateKey(Buffer.from(k.publicLine), undefined, 'k'), SshKeyError);
  });
});

describe('public keys and host key pinning', () => {
  const a = makeKey(dir, 'pa', 'ed25519');
  const b = makeKey(dir, 'pb', 'rsa');

  test('authorized_keys with options and comments, known_hosts with host patterns and hashed names', () => {
    const text = [
      '# comment',
      '',
      `no-pty,command="echo hi" ${a.publicLine}`,
      `|1|abc=|def= ${b.publicLine.split(' ').slice(0, 2).join(' ')}`,
      'garbage line',
      `@revoked * ${a.publicLine}`,
    ].join('\n');
    const keys = parsePublicKeys(text);
    assert.deepEqual(keys.map((k) => k.fingerprint), [fingerprintOfFile(`${a.path}.pub`), fingerprintOfFile(`${b.path}.pub`)]);
    assert.equal(keys[0]!.comment, 'pa@test');
  });

  test('hostKey: a fingerprint, a known_hosts line, or several; anything else is an error', () => {
    const blobA = parsePublicKeys(a.publicLine)[0]!.blob;
    const blobB = parsePublicKeys(b.publicLine)[0]!.blob;
    const byFp = parseHostKeyPolicy(fingerprintOf(blobA), 'hostKey');
    assert.ok(typeof byFp !== 'string' && byFp.accepts(blobA) && !byFp.accepts(blobB));
    const byLine = parseHostKeyPolicy(`[db.example]:2222 ${b.publicLine}`, 'hostKey');
    assert.ok(typeof byLine !== 'string' && byLine.accepts(blobB) && !byLine.accepts(blobA));
    const both = parseHostKeyPolicy(`${fingerprintOf(blobA)}\n${b.publicLine}`, 'hostKey');
    assert.ok(typeof both !== 'string' && both.accepts(blobA) && both.accepts(blobB));
    assert.match(String(parseHostKeyPolicy('yes please', "credential 'hostKey'")), /credential 'hostKey' holds neither/);
  });

  test('addresses', () => {
    assert.deepEqual(parseAddress('host'), { host: 'host', port: 22 });
    assert.deepEqual(parseAddress('10.0.0.1:2222'), { host: '10.0.0.1', port: 2222 });
    assert.deepEqual(parseAddress('[::1]:2200'), { host: '::1', port: 2200 });
    assert.equal(parseAddress('host:99999'), undefined);
    assert.equal(parseAddress('a b'), undefined);
  });
});

describe('the broker host key', () => {
  test('created once, 0600, stable; replaced when others could read it', async () => {
    const state = join(dir, 'state');
    const [first, concurrent] = await Promise.all([ensureSshHostKey(state), ensureSshHostKey(state)]);
    assert.equal(first.fingerprint, concurrent.fingerprint);
    const path = join(state, SSH_HOST_KEY_FILE);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(await sshHostKeyFingerprint(state), first.fingerprint);
    const r = spawnSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', path], { encoding: 'utf8' });
    assert.equal(r.stdout.split(/\s+/)[1], first.fingerprint);
    assert.match(r.stdout, /\(ED25519\)/);
    assert.match(first.publicKey, /^ssh-ed25519 AAAA\S+$/);
    chmodSync(path, 0o644);
    const replaced = await ensureSshHostKey(state);
    assert.notEqual(replaced.fingerprint, first.fingerprint);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.ok(readFileSync(path, 'utf8').includes('OPENSSH PRIVATE KEY'));
  });

  // ssh2's generateKeyPairSync wrote the public half as 31 bytes when it began with a zero
  // byte (1 key in 256); ssh-keygen calls such a file "not a key file".
  const SHORT_PUBLIC_KEY = [
    'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMgAAAAtz',
    'c2gtZWQyNTUxOQAAAB9ZqQ15TcFsG5VoySczJZQjFiPakN+UMnldMUlSIgptAAAA',
    'oKU6bH2lOmx9AAAAC3NzaC1lZDI1NTE5AAAAH1mpDXlNwWwblWjJJzMllCMWI9qQ',
    '35QyeV0xSVIiCm0AAAA/UYItOmO8N1Jo3yEclvIIcC4yMPdxcEX2R1Jc0p7bzmxZ',
    'qQ15TcFsG5VoySczJZQjFiPakN+UMnldMUlSIgptAAAAGXNlY3JldGxlc3MtZGVz',
    'a3RvcCBicm9rZXIBAgMEBQY=',
  ];
  const label = ['OPENSSH', 'PRIVATE KEY'].join(' ');

  test('a stored key with a shortened public half is replaced by one ssh-keygen reads', async () => {
    const state = join(dir, 'short');
    mkdirSync(state, { mode: 0o700 });
    const path = join(state, SSH_HOST_KEY_FILE);
    writeFileSync(path, [`-----BEGIN ${label}-----`, ...SHORT_PUBLIC_KEY, `-----END ${label}-----`, ''].join('\n'), { mode: 0o600 });
    assert.match(spawnSync('ssh-keygen', ['-lf', path], { encoding: 'utf8' }).stderr, /not a key file/, 'the stored key is the broken kind');
    const key = await ensureSshHostKey(state);
    const r = spawnSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', path], { encoding: 'utf8' });
    assert.equal(r.stdout.split(/\s+/)[1], key.fingerprint, r.stderr);
  });

  test('a new key whose public half starts with a zero byte is written whole', () => {
    let key: crypto.KeyObject | undefined;
    for (let i = 0; i < 50_000 && !key; i++) {
      const k = crypto.generateKeyPairSync('ed25519').privateKey;
      if (Buffer.from(k.export({ format: 'jwk' }).x!, 'base64url')[0] === 0) key = k;
    }
    assert.ok(key, 'found a key with a leading zero byte');
    const pair = generateEd25519('leading zero', key);
    const path = join(dir, 'leading-zero.key');
    writeFileSync(path, pair.private, { mode: 0o600 });
    const r = spawnSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', path], { encoding: 'utf8' });
    assert.equal(r.stdout.split(/\s+/)[1], fingerprintOf(pair.publicBlob), r.stderr);
    assert.equal(spawnSync('ssh-keygen', ['-y', '-f', path], { encoding: 'utf8' }).stdout.split(' ')[1], pair.publicBlob.toString('base64'));
    assert.equal(parsePrivateKey(Buffer.from(pair.private), undefined, 'test').fingerprint, fingerprintOf(pair.publicBlob));
  });
});
