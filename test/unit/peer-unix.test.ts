// Unix socket peers: `ss -xp` gives the peer process of an accepted connection.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { lookupPeer, parseSsUnix } from '../../broker/listeners/peer.js';

test('parseSsUnix reads inode, peer inode and pid', () => {
  const rows = parseSsUnix(
    [
      'u_str ESTAB 0 0 /tmp/x/pg.sock 41234 * 41233 users:(("node",pid=77,fd=21))',
      'u_str ESTAB 0 0 * 41233 * 41234 users:(("psql",pid=4242,fd=3))',
      'garbage line',
    ].join('\n'),
  );
  assert.deepEqual(rows, [
    { inode: '41234', peerInode: '41233', pid: 77 },
    { inode: '41233', peerInode: '41234', pid: 4242 },
  ]);
});

test('lookupPeer finds the pid and uid of a Unix socket client in another process', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'sl-peer-')), 's.sock');
  let listening!: () => void;
  const isListening = new Promise<void>((r) => (listening = r));
  const accepted = new Promise<net.Socket>((resolve) => {
    const server = net.createServer((s) => {
      resolve(s);
      server.close();
    });
    server.listen(path, () => listening());
  });
  await isListening;
  // The child keeps its connection open until we end its stdin (after the lookup).
  const child = spawn(process.execPath, ['-e', `const s=require('net').connect(${JSON.stringify(path)});process.stdin.on('end',()=>s.end()).resume()`]);
  const socket = await accepted;
  const peer = await lookupPeer(socket, { timeoutMs: 2000 });
  assert.equal(peer.pid, child.pid);
  assert.equal(peer.uid, process.getuid!());
  socket.destroy();
  child.stdin.end();
  child.kill();
});
