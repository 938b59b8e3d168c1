// The ssh-agent codec: framing across chunk boundaries, limits, request parsing and the
// replies, checked against the byte layout of draft-miller-ssh-agent.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AgentFrameError,
  encodeFailure,
  encodeIdentities,
  encodeRequest,
  encodeSignResponse,
  MAX_MESSAGE,
  parseRequest,
  readFrames,
  SSH_AGENTC_REQUEST_IDENTITIES,
  SSH_AGENTC_SIGN_REQUEST,
} from '../../broker/connectors/ssh-agent/codec.js';
import { sshString } from '../../broker/ssh/keys.js';

test('frames split across chunks and several per chunk', () => {
  const a = encodeRequest(SSH_AGENTC_REQUEST_IDENTITIES);
  const sign = encodeRequest(SSH_AGENTC_SIGN_REQUEST, Buffer.concat([sshString(Buffer.from('blob')), sshString(Buffer.from('data')), Buffer.from([0, 0, 0, 4])]));
  const all = Buffer.concat([a, sign]);
  const first = readFrames(all.subarray(0, 7));
  assert.equal(first.messages.length, 1);
  const second = readFrames(Buffer.concat([first.rest, all.subarray(7)]));
  assert.equal(second.messages.length, 1);
  assert.equal(second.rest.length, 0);
  assert.deepEqual(parseRequest(first.messages[0]!), { type: 'request-identities' });
  const req = parseRequest(second.messages[0]!);
  assert.ok(req.type === 'sign');
  assert.equal(req.keyBlob.toString(), 'blob');
  assert.equal(req.data.toString(), 'data');
  assert.equal(req.flags, 4);
});

test('oversized and empty frames are refused', () => {
  const big = Buffer.alloc(4);
  big.writeUInt32BE(MAX_MESSAGE + 1);
  assert.throws(() => readFrames(big), AgentFrameError);
  assert.throws(() => readFrames(Buffer.alloc(4)), AgentFrameError);
});

test('mutations, extensions, unknown and truncated requests', () => {
  for (const [code, name] of [[17, 'add-identity'], [18, 'remove-identity'], [19, 'remove-all-identities'], [22, 'lock'], [23, 'unlock'], [25, 'add-identity-constrained']] as const) {
    assert.deepEqual(parseRequest(Buffer.from([code, 0, 0])), { type: 'mutation', name });
  }
  assert.deepEqual(parseRequest(Buffer.concat([Buffer.from([27]), sshString('session-bind@openssh.com')])), { type: 'extension', name: 'session-bind@openssh.com' });
  assert.deepEqual(parseRequest(Buffer.from([99])), { type: 'unknown', code: 99 });
  assert.deepEqual(parseRequest(Buffer.concat([Buffer.from([13]), sshString('blob')])), { type: 'malformed', code: 13 });
});

test('replies: failure, identities, signature', () => {
  assert.deepEqual([...encodeFailure()], [0, 0, 0, 1, 5]);
  const ids = encodeIdentities([{ blob: Buffer.from('k1'), comment: 'one' }]);
  assert.deepEqual([...ids], [0, 0, 0, 18, 12, 0, 0, 0, 1, 0, 0, 0, 2, 0x6b, 0x31, 0, 0, 0, 3, 0x6f, 0x6e, 0x65]);
  const sig = encodeSignResponse(Buffer.from('sig'));
  assert.deepEqual([...sig], [0, 0, 0, 8, 14, 0, 0, 0, 3, 0x73, 0x69, 0x67]);
});
