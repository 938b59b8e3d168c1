// `connector: ssh` between the real OpenSSH client (ssh, scp, sftp, git) and a real
// sshd: exec, pty shell, exit codes, file transfer, -L forwarding, git clone, and the
// failure cases, which must reach the client as SSH disconnect messages while the
// broker keeps serving. All output is searched for the private key and passphrase.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureSshHostKey } from '../../broker/ssh/host-key.js';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { closedPort, freePort } from '../fixtures/free-port.js';
import { run, type RunResult } from '../fixtures/run.js';
import { fingerprintOfFile, makeKey, sshOptions, startSshd, type KeyFiles, type Sshd } from '../fixtures/sshd.js';
import { waitFor } from '../fixtures/wait-for.js';

let sshd: Sshd;
let tb: TestBroker;
let dir: string;
let knownHosts: string;
let clientKey: KeyFiles;
let strangerKey: KeyFiles;
let upstreamKey: KeyFiles;
let echo: net.Server;
const PASSPHRASE = `pass-${randomBytes(8).toString('hex')}`;
const clientOutput: string[] = [];

const env = () => ({ PATH: process.env.PATH, HOME: dir, LANG: 'C' });
/** Clients may exit before fixtures/run.ts ends their stdin; that EPIPE is not a failure. */
const noEpipe = { onSpawn: (c: ChildProcess) => void c.stdin?.on('error', () => {}) };

async function ssh(service: string, args: string[], options: { key?: string; input?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<RunResult> {
  const { port } = tb.tcp(service);
  const r = await run('ssh', [...sshOptions({ port, knownHosts, key: options.key ?? clientKey.path }), 'someone@127.0.0.1', ...args], {
    env: { ...env(), ...options.env },
    input: options.input,
    ...noEpipe,
    timeoutMs: options.timeoutMs ?? 30_000,
  });
  clientOutput.push(r.stdout, r.stderr);
  return r;
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sl-ssh-test-'));
  sshd = await startSshd();
  clientKey = makeKey(dir, 'client', 'ed25519');
  strangerKey = makeKey(dir, 'stranger', 'ed25519');
  // The broker's key to the target: encrypted, so the passphrase is exercised too.
  upstreamKey = makeKey(dir, 'upstream', 'ecdsa', { passphrase: PASSPHRASE });
  sshd.authorize(upstreamKey.publicLine);
  const unauthorized = makeKey(dir, 'unauthorized', 'ed25519');
  const otherHost = makeKey(dir, 'otherhost', 'ed25519');
  const hostKeyDir = join(dir, 'state');
  const brokerKey = await ensureSshHostKey(hostKeyDir);
  echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  writeFileSync(join(dir, 'pw'), PASSPHRASE);
  const svc = (name: string, creds: Record<string, string>, config: Record<string, string> = {}) =>
    `  ${name}:
    connector: ssh
    listenOn: tcp://127.0.0.1:0
    verboseClientErrors: true # the tests read each error's details from ssh's output
    credentials:
${Object.entries(creds).map(([k, v]) => `      ${k}: ${v}`).join('\n')}
    config:
      authorizedKeys: ${clientKey.path}.pub
      hostKeyDir: ${hostKeyDir}
${Object.entries(config).map(([k, v]) => `      ${k}: ${v}`).join('\n')}
`;
  const good = {
    address: `127.0.0.1:${sshd.port}`,
    user: sshd.user,
    privateKey: `{ from: file, get: ${upstreamKey.path} }`,
    passphrase: `{ from: file, get: ${join(dir, 'pw')} }`,
    // A known_hosts line, as users copy it from their own known_hosts.
    hostKey: JSON.stringify(`[127.0.0.1]:${sshd.port} ${sshd.hostKeyLine}`),
  };
  tb = await startTestBroker(`version: "2"
services:
${svc('box', good)}
${svc('by-fingerprint', { ...good, hostKey: sshd.hostKeyFingerprint })}
${svc('wrong-hostkey', { ...good, hostKey: JSON.stringify(otherHost.publicLine) })}
${svc('wrong-userkey', { ...good, privateKey: `{ from: file, get: ${unauthorized.path} }`, passphrase: '""' })}
${svc('down', { ...good, address: `{ from: file, get: ${join(dir, 'down-address')} }` })}
${svc('bad-passphrase', { ...good, passphrase: 'not-the-passphrase' })}
${svc('forwarding', good, { allowRemoteForwarding: 'true', allowAgentForwarding: 'true' })}
${svc('impatient', good, { authTimeoutMs: '1500' })}
`);
  // The client pins the broker's own host key, as the README tells users to.
  knownHosts = join(dir, 'known_hosts');
  const lines = ['box', 'by-fingerprint', 'wrong-hostkey', 'wrong-userkey', 'down', 'bad-passphrase', 'forwarding'].map((s) => `[127.0.0.1]:${tb.tcp(s).port} ${brokerKey.publicKey}`);
  writeFileSync(knownHosts, `${lines.join('\n')}\n`);
});

after(async () => {
  await tb?.stop();
  await sshd?.stop();
  echo?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ssh connector with real OpenSSH', () => {
  test('exec: echo ok, as the configured user whatever the client asked for', async () => {
    const r = await ssh('box', ['echo ok; whoami']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `ok\n${sshd.user}\n`);
    const authenticated = tb.audit.records.find((a) => a.type === 'connection.authenticated' && a.service === 'box');
    assert.ok(authenticated && 'target' in authenticated && authenticated.target === `127.0.0.1:${sshd.port}`);
  });

  test('a SHA256 fingerprint pins the target as well as a known_hosts line', async () => {
    const r = await ssh('by-fingerprint', ['echo fp']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'fp\n');
  });

  test('exit codes, stderr and exit signals come back', async () => {
    const r = await ssh('box', ['echo to-stderr >&2; exit 7']);
    assert.equal(r.code, 7);
    assert.match(r.stderr, /to-stderr/);
    const killed = await ssh('box', ['-v', 'kill -TERM $$']);
    // OpenSSH exits 255 on a remote signal and says so only in its debug output.
    assert.equal(killed.code, 255);
    assert.match(killed.stderr, /rtype exit-signal/);
  });

  test('interactive shell on a pty, with env passed through', async () => {
    const r = await ssh('box', ['-tt', '-o', 'SetEnv=SL_GREETING=hello-env'], {
      input: 'echo "sum=$((6*7))"; tty; echo "env=$SL_GREETING"; exit 5\n',
    });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stdout, /sum=42/);
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
    assert.match(r.stdout, /env=hello-env/);
  });

  test('a terminal driven through tmux: resizing it reaches the remote pty (window-change)', async () => {
    const { port } = tb.tcp('box');
    const tmuxSock = join(dir, 'tmux.sock');
    const tmux = (...args: string[]) => run('tmux', ['-S', tmuxSock, '-f', '/dev/null', ...args], { env: env(), ...noEpipe });
    const sshCmd = ['ssh', ...sshOptions({ port, knownHosts, key: clientKey.path }), '-tt', 'x@127.0.0.1'].join(' ');
    const started = await tmux('new-session', '-d', '-s', 'sl', '-x', '100', '-y', '30', sshCmd);
    assert.equal(started.code, 0, started.stderr);
    const screen = async () => (await tmux('capture-pane', '-p', '-t', 'sl')).stdout;
    let last = '';
    const onScreen = (re: RegExp) => waitFor(() => `${re}; screen:\n${last}`, async () => re.test((last = await screen())));
    try {
      await tmux('send-keys', '-t', 'sl', 'stty size | sed s/^/size=/', 'Enter');
      await onScreen(/size=30 100/);
      await tmux('resize-window', '-t', 'sl', '-x', '90', '-y', '25');
      await tmux('send-keys', '-t', 'sl', 'stty size | sed s/^/resized=/', 'Enter');
      await onScreen(/resized=25 90/);
    } finally {
      await tmux('kill-server');
    }
  });

  test('agent forwarding is refused: the remote session gets no SSH_AUTH_SOCK', async () => {
    const fakeAgent = net.createServer((s) => s.destroy());
    const agentPath = join(dir, 'fake-agent.sock');
    await new Promise<void>((r) => fakeAgent.listen(agentPath, () => r()));
    try {
      const r = await ssh('box', ['-v', '-A', 'echo "sock=$SSH_AUTH_SOCK"'], { env: { SSH_AUTH_SOCK: agentPath } });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /Requesting authentication agent forwarding/);
      assert.equal(r.stdout, 'sock=\n');
    } finally {
      fakeAgent.close();
    }
  });

  test('agent forwarding where the service enables it: the target reaches the client\'s own agent', async () => {
    const agentPath = join(dir, 'real-agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', agentPath], { stdio: 'ignore' });
    try {
      await retry(async () => {
        const r = await run('ssh-add', ['-l'], { env: { ...env(), SSH_AUTH_SOCK: agentPath }, ...noEpipe });
        if (r.code !== 1) throw new Error('agent not up');
      }, 10_000);
      const add = await run('ssh-add', [strangerKey.path], { env: { ...env(), SSH_AUTH_SOCK: agentPath }, ...noEpipe });
      assert.equal(add.code, 0, add.stderr);
      const r = await ssh('forwarding', ['-A', 'ssh-add -l'], { env: { SSH_AUTH_SOCK: agentPath } });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(fingerprintOfFile(`${strangerKey.path}.pub`).replace(/[+/]/g, '\\$&')));
    } finally {
      agent.kill();
    }
  });

  test('remote forwarding (ssh -R) works where the service enables it', async () => {
    const { port } = tb.tcp('forwarding');
    const echoPort = (echo.address() as net.AddressInfo).port;
    let stderr = '';
    const child = spawn(
      'ssh',
      [...sshOptions({ port, knownHosts, key: clientKey.path }), '-N', '-o', 'ExitOnForwardFailure=yes', '-R', `0:127.0.0.1:${echoPort}`, 'x@127.0.0.1'],
      { env: env(), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr!.on('data', (d) => (stderr += d));
    try {
      // "Allocated port N for remote forward": sshd listens on N on the target side.
      const remotePort = await retry(async () => {
        const m = /Allocated port (\d+) for remote forward/.exec(stderr);
        if (!m) throw new Error(`no allocation yet: ${stderr}`);
        return Number(m[1]);
      }, 10_000);
      assert.equal(await roundTrip(remotePort, 'back through -R'), 'back through -R');
    } finally {
      child.kill();
    }
  });

  test('scp (sftp and legacy protocol) and sftp of a 10 MB file keep the checksum', async () => {
    const src = join(dir, 'ten-mb.bin');
    writeFileSync(src, randomBytes(10 * 1024 * 1024));
    const { port } = tb.tcp('box');
    const opts = sshOptions({ port, knownHosts, key: clientKey.path });
    const remote = join(sshd.dir, 'uploaded.bin');
    for (const legacy of [false, true]) {
      const up = await run('scp', [...(legacy ? ['-O'] : []), ...opts, src, `x@127.0.0.1:${remote}`], { env: env(), timeoutMs: 120_000, ...noEpipe });
      assert.equal(up.code, 0, up.stderr);
      assert.equal(sha256(remote), sha256(src));
      const back = join(dir, `back-${legacy}.bin`);
      const down = await run('scp', [...(legacy ? ['-O'] : []), ...opts, `x@127.0.0.1:${remote}`, back], { env: env(), timeoutMs: 120_000, ...noEpipe });
      assert.equal(down.code, 0, down.stderr);
      assert.equal(sha256(back), sha256(src));
      rmSync(remote);
    }
    const batch = join(dir, 'sftp-batch');
    const viaSftp = join(dir, 'via-sftp.bin');
    writeFileSync(batch, `put ${src} ${remote}\nget ${remote} ${viaSftp}\n`);
    const r = await run('sftp', [...opts, '-b', batch, 'x@127.0.0.1'], { env: env(), timeoutMs: 120_000, ...noEpipe });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha256(remote), sha256(src));
    assert.equal(sha256(viaSftp), sha256(src));
  });

  test('ssh -L forwards a local port through the target', async () => {
    const { port } = tb.tcp('box');
    const localPort = await freePort();
    const echoPort = (echo.address() as net.AddressInfo).port;
    const child = spawn(
      'ssh',
      [...sshOptions({ port, knownHosts, key: clientKey.path }), '-N', '-o', 'ExitOnForwardFailure=yes', '-L', `${localPort}:127.0.0.1:${echoPort}`, 'x@127.0.0.1'],
      { env: env(), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    try {
      const reply = await retry(() => roundTrip(localPort, 'through the tunnel'), 10_000);
      assert.equal(reply, 'through the tunnel');
    } finally {
      child.kill();
    }
    // ssh -W (stdio forwarding, what ProxyJump uses) rides the same direct-tcpip channel.
    const w = await ssh('box', ['-W', `127.0.0.1:${echoPort}`], { input: 'via -W' });
    assert.equal(w.stdout, 'via -W');
  });

  test('git clone of a bare repository over ssh', async () => {
    const bare = join(sshd.dir, 'repo.git');
    const work = join(dir, 'work');
    const git = (args: string[], cwd?: string, extraEnv: Record<string, string> = {}) => {
      const r = spawnSync('git', args, { cwd, encoding: 'utf8', env: { ...env(), GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t', ...extraEnv } });
      assert.equal(r.status, 0, r.stderr);
      return r;
    };
    git(['init', '-q', '--bare', bare]);
    git(['init', '-q', work]);
    writeFileSync(join(work, 'README'), 'cloned through the broker\n');
    git(['add', 'README'], work);
    git(['commit', '-q', '-m', 'first'], work);
    git(['push', '-q', bare, 'HEAD:refs/heads/main'], work);
    git(['--git-dir', bare, 'symbolic-ref', 'HEAD', 'refs/heads/main']);
    const { port } = tb.tcp('box');
    const sshCommand = ['ssh', ...sshOptions({ knownHosts, key: clientKey.path })].join(' ');
    const clone = join(dir, 'clone');
    // git passes -p PORT from the URL itself. Not spawnSync: the broker runs in this process.
    const r = await run('git', ['clone', '-q', `ssh://git@127.0.0.1:${port}${bare}`, clone], { env: { ...env(), GIT_SSH_COMMAND: sshCommand }, ...noEpipe });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(clone, 'README'), 'utf8'), 'cloned through the broker\n');
  });

  test('a client key the service does not authorize is refused by the broker', async () => {
    const r = await ssh('box', ['echo never'], { key: strangerKey.path });
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Permission denied \(publickey\)/);
  });

  test('wrong target host key: a disconnect message naming both fingerprints', async () => {
    const r = await ssh('wrong-hostkey', ['echo never']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Received disconnect .*presented host key SHA256:\S+, which does not match the configured hostKey/);
    assert.ok(r.stderr.includes(sshd.hostKeyFingerprint), r.stderr);
  });

  test('target rejects the configured key: the client is told so', async () => {
    const r = await ssh('wrong-userkey', ['echo never']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Received disconnect .*rejected the broker's configured credentials \(user '/);
  });

  test('target down: cannot reach, connection refused', async () => {
    // A port free right now (read from a file per connection, so it is fresh).
    writeFileSync(join(dir, 'down-address'), `127.0.0.1:${await closedPort()}`);
    const r = await ssh('down', ['echo never']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Received disconnect .*cannot reach the SSH target 127\.0\.0\.1:\d+ of service 'down': connection refused/);
  });

  test('wrong passphrase: named, never shown', async () => {
    const r = await ssh('bad-passphrase', ['echo never']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /credential 'privateKey': the passphrase is wrong/);
  });

  test('remote forwarding is refused unless enabled', async () => {
    const r = await ssh('box', ['-o', 'ExitOnForwardFailure=yes', '-R', '0:127.0.0.1:9', 'echo never']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /remote port forwarding failed/i);
  });

  test('garbage instead of SSH (no banner, a banner then random packets, a huge packet length) or silence: closed by authTimeoutMs at the latest', async () => {
    const { port } = tb.tcp('impatient');
    const inputs = [
      randomBytes(4096),
      Buffer.concat([Buffer.from('SSH-2.0-fuzz\r\n'), randomBytes(8192)]),
      Buffer.concat([Buffer.from('SSH-2.0-fuzz\r\n'), Buffer.from([0x7f, 0xff, 0xff, 0xff, 4]), randomBytes(64)]),
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      Buffer.alloc(0),
    ];
    for (const input of inputs) {
      const sock = net.connect(port, '127.0.0.1');
      sock.on('error', () => {});
      sock.resume();
      sock.write(input);
      // The bound is what is tested: authTimeoutMs (far shorter) must close the connection.
      const closed = await Promise.race([once(sock, 'close').then(() => true), new Promise((r) => setTimeout(() => r(false), 15_000))]);
      sock.destroy();
      assert.ok(closed, `the broker closed a connection that sent ${input.subarray(0, 16).toString('hex')}...`);
    }
  });

  test('after all failures the broker still serves, and audits each failure', async () => {
    const r = await ssh('box', ['echo still-here']);
    assert.equal(r.stdout, 'still-here\n');
    const failed = tb.audit.records.filter((a) => a.type === 'connection.failed').map((a) => ('code' in a ? a.code : ''));
    for (const code of ['host_key_mismatch', 'target_rejected_credentials', 'target_unreachable'] as const) assert.ok(failed.includes(code), `${code} in ${failed}`);
  });

  test('the private key and passphrase never appear in logs, audit or client output', () => {
    const everything = tb.output() + clientOutput.join('');
    assert.ok(!everything.includes(PASSPHRASE), 'passphrase leaked');
    const body = upstreamKey.privateText.split('\n').filter((l) => l && !l.startsWith('-----'));
    for (const line of body) assert.ok(!everything.includes(line), 'private key material leaked');
    assert.ok(tb.logs.some((l) => l.includes('"level":"debug"')), 'debug logging was on');
  });
});

function roundTrip(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write(text));
    let got = '';
    s.on('data', (d) => {
      got += d;
      if (got.length >= text.length) {
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', reject);
    s.on('close', () => (got.length < text.length ? reject(new Error('closed early')) : undefined));
  });
}

/** fn's result once it stops failing (the last failure names what was awaited). */
async function retry<T>(fn: () => Promise<T>, ms: number): Promise<T> {
  let last: unknown;
  const done = await waitFor(
    () => `success: ${(last as Error | undefined)?.message}`,
    () => fn().then((value) => ({ value }), (err: unknown) => void (last = err)),
    ms,
  );
  return done.value;
}
