// The COM_CHANGE_USER filter on the client->server direction: whatever the chunking,
// it forwards every other byte unchanged and drops exactly the COM_CHANGE_USER packets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodePacket } from '../../broker/connectors/mysql/codec.js';
import { createCommandFilter } from '../../broker/connectors/mysql/command-filter.js';

const packet = (seq: number, payload: Buffer) => {
  const h = Buffer.alloc(4);
  h.writeUIntLE(payload.length, 0, 3);
  h[3] = seq;
  return Buffer.concat([h, payload]);
};

function runFilter(stream: Buffer, cut: number[]): { out: Buffer; refused: number } {
  const f = createCommandFilter();
  const parts: Buffer[] = [];
  let refused = 0;
  let prev = 0;
  for (const c of [...cut, stream.length]) {
    const r = f.push(stream.subarray(prev, c));
    parts.push(...r.forward);
    refused += r.refused;
    prev = c;
  }
  return { out: Buffer.concat(parts), refused };
}

test('commands other than COM_CHANGE_USER pass byte for byte, at every split point', () => {
  const stream = Buffer.concat([
    encodePacket(0, Buffer.from('\x03SELECT 1')),
    encodePacket(0, Buffer.from([0x1f])), // COM_RESET_CONNECTION
    encodePacket(0, Buffer.from('\x16SELECT ?')), // COM_STMT_PREPARE
    encodePacket(0, Buffer.from([0x0e])),
  ]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const r = runFilter(stream, [cut]);
    assert.deepEqual(r.out, stream);
    assert.equal(r.refused, 0);
  }
});

test('COM_CHANGE_USER is dropped wherever the chunks split it; the rest is kept', () => {
  const before = encodePacket(0, Buffer.from('\x03SELECT 1'));
  const change = encodePacket(0, Buffer.concat([Buffer.from([0x11]), Buffer.from('root\0\0app\0')]));
  const afterward = encodePacket(0, Buffer.from('\x03SELECT 2'));
  const stream = Buffer.concat([before, change, afterward]);
  for (let a = 0; a <= stream.length; a++) {
    for (const b of [a, Math.min(stream.length, a + 3), stream.length]) {
      const r = runFilter(stream, [a, b]);
      assert.deepEqual(r.out, Buffer.concat([before, afterward]), `cuts ${a},${b}`);
      assert.equal(r.refused, 1);
    }
  }
});

test('LOAD DATA content wrapping from sequence 255 to 0 is not mistaken for a command', () => {
  const content: Buffer[] = [encodePacket(0, Buffer.from("\x03LOAD DATA LOCAL INFILE 'x' INTO TABLE t"))];
  let seq = 2;
  for (let i = 0; i < 300; i++) {
    content.push(packet(seq, Buffer.alloc(10, 0x11)));
    seq = (seq + 1) & 0xff;
  }
  content.push(packet(seq, Buffer.alloc(0)));
  const change = encodePacket(0, Buffer.from([0x11, 0x72, 0]));
  const stream = Buffer.concat([...content, change]);
  for (const cut of [0, 7, 1000, 2500, stream.length - 2]) {
    const r = runFilter(stream, [cut]);
    assert.deepEqual(r.out, Buffer.concat(content));
    assert.equal(r.refused, 1, 'the real COM_CHANGE_USER after the transfer is still caught');
  }
});

test('a 16 MiB command continues in the next packet; a dropped one is dropped whole', () => {
  const big = Buffer.alloc(0xffffff, 0x61);
  big[0] = 0x03;
  const stream = Buffer.concat([packet(0, big), packet(1, Buffer.from([0x11, 0x11])), encodePacket(0, Buffer.from([0x0e]))]);
  const r = runFilter(stream, [100, 0xffffff + 4 + 2]);
  assert.deepEqual(r.out, stream);
  const bigChange = Buffer.alloc(0xffffff, 0x62);
  bigChange[0] = 0x11;
  const dropped = Buffer.concat([packet(0, bigChange), packet(1, Buffer.from('tail')), encodePacket(0, Buffer.from([0x0e]))]);
  const d = runFilter(dropped, [5, 70000]);
  assert.deepEqual(d.out, encodePacket(0, Buffer.from([0x0e])));
  assert.equal(d.refused, 1);
});
