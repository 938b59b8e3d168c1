// `connector: ssh-agent` with the real OpenSSH tools: ssh-add lists the vault keys,
// ssh logs into a real sshd with an ed25519 and an rsa key through the agent, mutations
// are refused, a rotated key file is served from the next connection, and every
// signature is audited. Output is searched for the keys and the passphrase.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { run, type RunResult } from '../fixtures/run.js';
import { fingerprintOfFile, makeKey, sshOptions, startSshd, type KeyFiles, type Sshd } from '../fixtures/sshd.js';

let sshd: Sshd;
let tb: TestBroker;
let dir: string;
let sock: string;
let knownHosts: string;
const keys: Record<string, KeyFiles> = {};
const PASSPHRASE = `agent-pass-${randomBytes(8).toString('hex')}`;
const clientOutput: string[] = [];

const env = () => ({ PATH: process.env.PATH, HOME: dir, LANG: 'C', SSH_AUTH_SOCK: sock });

async function tool(cmd: string, args: string[], onSpawn?: (pid: number) => void): Promise<RunResult> {
  const r = await run(cmd, args, {
    env: env(),
    timeoutMs: 30_000,
    onSpawn: (c) => {
      // Tools may exit before run() ends their stdin: no EPIPE.
      c.stdin?.on('error', () => {});
      onSpawn?.(c.pid!);
    },
  });
  clientOutput.push(r.stdout, r.stderr);
  return r;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sl-agent-test-'));
  sock = join(dir, 'agent.sock');
  sshd = await startSshd();
  keys.deploy = makeKey(dir, 'deploy', 'ed25519', { passphrase: PASSPHRASE });
  keys.legacy = makeKey(dir, 'legacy', 'rsa', { format: 'PEM' });
  keys.ec = makeKey(dir, 'ec', 'ecdsa', { format: 'PKCS8' });
  keys.stranger = makeKey(dir, 'stranger', 'ed25519');
  for (const k of [keys.deploy, keys.legacy, keys.ec]) sshd.authorize(k.publicLine);
  knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${sshd.hostKeyLine}\n`);
  tb = await startTestBroker(
    `version: "2"
services:
  agent:
    connector: ssh-agent
    listenOn: unix://${sock}
    credentials:
      deploy: { from: file, get: ${keys.deploy.path} }
      deployPassphrase: { from: env, get: DEPLOY_PASSPHRASE }
      legacy: { from: file, get: ${keys.legacy.path} }
      ec: { from: file, get: ${keys.ec.path} }
`,
    { env: { DEPLOY_PASSPHRASE: PASSPHRASE } },
  );
});

after(async () => {
  await tb?.stop();
  await sshd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function login(key: KeyFiles, onSpawn?: (pid: number) => void): Promise<RunResult> {
  // IdentitiesOnly with the .pub file: ssh uses the agent's copy of exactly that key.
  const opts = sshOptions({ port: sshd.port, knownHosts }).filter((a) => a !== 'IdentityFile=none');
  const args = [...opts.slice(0, -1), '-o', `IdentityAgent=${sock}`, '-o', `IdentityFile=${key.path}.pub`, '-v', `${sshd.user}@127.0.0.1`, 'echo logged-in'];
  return tool('ssh', args, onSpawn);
}

describe('ssh-agent connector with real OpenSSH', () => {
  test('the socket is 0600', () => {
    assert.equal(statSync(sock).mode & 0o777, 0o600);
  });

  test('ssh-add -l lists the keys with their fingerprints and names', async () => {
    const r = await tool('ssh-add', ['-l']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 3, r.stdout);
    for (const [name, type] of [['deploy', 'ED25519'], ['legacy', 'RSA'], ['ec', 'ECDSA']] as const) {
      const fp = fingerprintOfFile(`${keys[name]!.path}.pub`);
      assert.ok(lines.some((l) => l.includes(fp) && l.includes(` ${name} (${type})`)), `${name} ${fp} in ${r.stdout}`);
    }
  });

  test('ssh logs into sshd with the ed25519 key (passphrase-protected at its provider)', async () => {
    let pid = 0;
    const r = await login(keys.deploy!, (p) => (pid = p));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'logged-in\n');
    const fp = fingerprintOfFile(`${keys.deploy!.path}.pub`);
    const signed = tb.audit.records.filter((a) => a.type === 'ssh-agent.signed' && a.key.startsWith(fp));
    assert.equal(signed.length, 1);
    const event = signed[0]!;
    assert.ok(event.type === 'ssh-agent.signed' && event.key === `${fp} deploy`);
    // The pid of the ssh process, found through the Unix socket's peer.
    assert.equal(event.client.pid, pid);
  });

  test('ssh logs in with the rsa key (PEM): the agent honours the rsa-sha2 flags', async () => {
    const r = await login(keys.legacy!);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'logged-in\n');
    // OpenSSH 9 no longer accepts SHA-1 ssh-rsa signatures, so this login proves SHA-2.
    assert.match(r.stderr, /Server accepts key: .*legacy.* RSA SHA256:/);
    assert.match(r.stderr, /rsa-sha2-(256|512)/);
  });

  test('ssh logs in with the ecdsa key (PKCS#8)', async () => {
    const r = await login(keys.ec!);
    assert.equal(r.code, 0, r.stderr);
  });

  test('the agent is read-only: add, remove, remove-all and lock are refused', async () => {
    const add = await tool('ssh-add', [keys.stranger!.path]);
    assert.notEqual(add.code, 0);
    assert.match(add.stderr, /agent refused operation|Could not add identity/);
    const remove = await tool('ssh-add', ['-d', `${keys.deploy!.path}.pub`]);
    assert.notEqual(remove.code, 0);
    const removeAll = await tool('ssh-add', ['-D']);
    assert.notEqual(removeAll.code, 0);
    const still = await tool('ssh-add', ['-l']);
    assert.equal(still.stdout.trim().split('\n').length, 3);
    const refused = tb.audit.records.filter((a) => a.type === 'ssh-agent.refused').map((a) => (a.type === 'ssh-agent.refused' ? a.request : ''));
    for (const request of ['add-identity', 'remove-identity', 'remove-all-identities']) assert.ok(refused.includes(request), `${request} in ${refused}`);
  });

  test('a key rotated at its provider is served from the next connection, audited once', async () => {
    const replacement = makeKey(join(dir), 'legacy-next', 'rsa', { format: 'PEM' });
    writeFileSync(keys.legacy!.path, replacement.privateText);
    const first = await tool('ssh-add', ['-l']);
    const second = await tool('ssh-add', ['-l']);
    const fp = fingerprintOfFile(`${replacement.path}.pub`);
    assert.ok(first.stdout.includes(fp) && second.stdout.includes(fp), first.stdout);
    assert.ok(!first.stdout.includes(fingerprintOfFile(`${keys.legacy!.path}.pub`)));
    const rotated = tb.audit.records.filter((a) => a.type === 'credential.rotated' && a.service === 'agent');
    assert.equal(rotated.length, 1);
    assert.ok(rotated[0]!.type === 'credential.rotated' && rotated[0]!.id === keys.legacy!.path);
    // The new key is what the agent offers now: sshd does not know it, so the login fails.
    const r = await login(replacement);
    assert.notEqual(r.code, 0);
  });

  test('a malformed agent message closes that client only', async () => {
    const { connect } = await import('node:net');
    await new Promise<void>((resolve) => {
      const s = connect(sock, () => s.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1])));
      s.on('close', () => resolve());
      s.on('error', () => {});
    });
    const r = await tool('ssh-add', ['-l']);
    assert.equal(r.code, 0);
  });

  test('keys and passphrase never appear in logs, audit or client output', () => {
    const everything = tb.output() + clientOutput.join('');
    assert.ok(!everything.includes(PASSPHRASE), 'passphrase leaked');
    for (const k of Object.values(keys)) {
      for (const line of k.privateText.split('\n').filter((l) => l && !l.startsWith('-----'))) assert.ok(!everything.includes(line), 'key material leaked');
    }
  });
});
