// The Redis request scanner: whatever the chunking (every split point, two split points,
// byte by byte), it forwards every byte of other commands unchanged and in order, hands
// exactly the AUTH/HELLO commands to rewrite with their arguments, and turns requests
// the server would reject into a stand-in that fails the same way.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCommandScanner, MAX_CAPTURE, MAX_INLINE, type ScanFailure } from '../../broker/connectors/redis/command-scanner.js';
import { encodeCommand } from '../../broker/connectors/redis/resp.js';

const cmd = (...args: (string | Buffer)[]) => encodeCommand(args);
const MARK = (args: Buffer[]) => Buffer.from(`<${args.map((a) => a.toString('latin1')).join('|')}>`);

function scan(stream: Buffer, cuts: number[], rewrite: (args: Buffer[]) => Buffer | null = MARK): { out: Buffer; failures: ScanFailure[]; calls: string[][] } {
  const calls: string[][] = [];
  const failures: ScanFailure[] = [];
  const s = createCommandScanner({
    rewrite(args) {
      calls.push(args.map((a) => a.toString('latin1')));
      return rewrite(args);
    },
    onProtocolError: (r) => void failures.push(r),
  });
  const parts: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts, stream.length]) {
    parts.push(...s.push(stream.subarray(prev, c)));
    prev = c;
  }
  return { out: Buffer.concat(parts), failures, calls };
}

/** The same result at every split point, and byte by byte. */
function everySplit(stream: Buffer, expected: Buffer, rewrite?: (args: Buffer[]) => Buffer | null): void {
  for (let cut = 0; cut <= stream.length; cut++) assert.deepEqual(scan(stream, [cut], rewrite).out.toString('latin1'), expected.toString('latin1'), `split at ${cut}`);
  const bytes = [...Array(stream.length).keys()];
  assert.deepEqual(scan(stream, bytes, rewrite).out, expected, 'byte by byte');
}

test('other commands pass byte for byte at every split point (multibulk, inline, empty requests, binary values)', () => {
  const stream = Buffer.concat([
    cmd('SET', 'k', 'v'),
    cmd('GET', 'k'),
    Buffer.from('PING\r\n'),
    Buffer.from('ECHO "a b"\n'),
    Buffer.from('*0\r\n*-1\r\n'),
    Buffer.from('\r\n'),
    cmd('SET', 'bin', Buffer.from([0x0d, 0x0a, 0x2a, 0x24, 0x00, 0xff])),
    cmd('MIGRATE', 'h', '1', '', '0', '5000', 'AUTH', 'pw', 'KEYS', 'a'), // AUTH as an argument is not a command
    cmd('AUTHX', 'a'),
    cmd('HELL', 'a'),
    cmd('SUBSCRIBE', 'AUTH'),
  ]);
  everySplit(stream, stream);
  assert.deepEqual(scan(stream, []).calls, []);
});

test('AUTH and HELLO (any case, multibulk or inline) are handed over whole and replaced in place', () => {
  const stream = Buffer.concat([
    cmd('SET', 'a', '1'),
    cmd('AUTH', 'pw'),
    cmd('GET', 'a'),
    cmd('auth', 'user', 'pw'),
    Buffer.from('HeLLo 3 AUTH u "p w" SETNAME n\r\n'),
    cmd('MULTI'),
    cmd('AuTh', 'x'),
    cmd('EXEC'),
    Buffer.from('  auth \'it\\\'s\'\n'),
    cmd('HELLO'),
  ]);
  const expected = Buffer.concat([
    cmd('SET', 'a', '1'),
    Buffer.from('<AUTH|pw>'),
    cmd('GET', 'a'),
    Buffer.from('<auth|user|pw>'),
    Buffer.from('<HeLLo|3|AUTH|u|p w|SETNAME|n>'),
    cmd('MULTI'),
    Buffer.from('<AuTh|x>'),
    cmd('EXEC'),
    Buffer.from("<auth|it's>"),
    Buffer.from('<HELLO>'),
  ]);
  everySplit(stream, expected);
  assert.deepEqual(scan(stream, []).calls, [['AUTH', 'pw'], ['auth', 'user', 'pw'], ['HeLLo', '3', 'AUTH', 'u', 'p w', 'SETNAME', 'n'], ['AuTh', 'x'], ['auth', "it's"], ['HELLO']]);
});

test('a rewrite that returns null forwards the command as it came', () => {
  const stream = Buffer.concat([cmd('HELLO', '3'), Buffer.from('HELLO 2\r\n'), cmd('GET', 'x')]);
  everySplit(stream, stream, () => null);
});

test('a large value is forwarded as slices of the input, not copied, and not held back', () => {
  const big = Buffer.alloc(1 << 20, 0x61);
  const head = Buffer.from(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${big.length}\r\n`);
  const s = createCommandScanner({ rewrite: MARK });
  const first = s.push(Buffer.concat([head, big.subarray(0, 1000)]));
  assert.equal(Buffer.concat(first).length, head.length + 1000, 'everything so far goes out at once');
  const chunk = big.subarray(1000, 500_000);
  const second = s.push(chunk);
  assert.equal(second.length, 1);
  assert.equal(second[0], chunk, 'the very same buffer');
  const rest = Buffer.concat([big.subarray(500_000), Buffer.from('\r\n'), cmd('AUTH', 'p')]);
  assert.deepEqual(Buffer.concat(s.push(rest)), Buffer.concat([big.subarray(500_000), Buffer.from('\r\n<AUTH|p>')]));
});

test('10 000 pipelined commands with AUTH among them, in chunks of every size from 1 to 97 bytes', () => {
  const cmds: Buffer[] = [];
  const want: Buffer[] = [];
  for (let k = 0; k < 10_000; k++) {
    const c = k % 997 === 0 ? cmd('AUTH', `p${k}`) : cmd('SET', `key:${k}`, `value-${k}`);
    cmds.push(c);
    want.push(k % 997 === 0 ? Buffer.from(`<AUTH|p${k}>`) : c);
  }
  const stream = Buffer.concat(cmds);
  const expected = Buffer.concat(want);
  for (const size of [1, 7, 13, 64, 97]) {
    const cuts: number[] = [];
    for (let c = size; c < stream.length; c += size) cuts.push(c);
    assert.deepEqual(scan(stream, cuts).out, expected, `chunks of ${size}`);
  }
});

/** What the server receives for a malformed request: the commands before it, then the stand-in, then nothing. */
function broken(stream: Buffer, good: Buffer, standIn: Buffer | ((b: Buffer) => boolean), reason: ScanFailure): void {
  for (let cut = 0; cut <= stream.length; cut++) {
    const r = scan(Buffer.concat([stream, cmd('AUTH', 'later')]), [cut]);
    assert.deepEqual(r.failures, [reason], `split at ${cut}`);
    assert.deepEqual(r.out.subarray(0, good.length), good, `split at ${cut}: the good commands`);
    const rest = r.out.subarray(good.length);
    if (typeof standIn === 'function') assert.ok(standIn(rest), `split at ${cut}: stand-in ${rest.subarray(0, 20).toString('latin1')}`);
    else assert.deepEqual(rest.toString('latin1'), standIn.toString('latin1'), `split at ${cut}`);
    assert.deepEqual(r.calls, [], 'nothing after the error is looked at');
  }
}

test('malformed requests: the commands before go out, then a request the server rejects the same way, then nothing', () => {
  const ok = cmd('SET', 'a', '1');
  broken(Buffer.concat([ok, Buffer.from('*x\r\n')]), ok, Buffer.from('*x\r\n'), 'invalid multibulk length');
  broken(Buffer.concat([ok, Buffer.from('*01\r\n')]), ok, Buffer.from('*x\r\n'), 'invalid multibulk length');
  broken(Buffer.concat([ok, Buffer.from('*3000000000\r\n')]), ok, Buffer.from('*x\r\n'), 'invalid multibulk length');
  broken(Buffer.concat([ok, Buffer.from('*1\r\n$-1\r\n')]), ok, Buffer.from('*1\r\n$x\r\n'), 'invalid bulk length');
  broken(Buffer.concat([ok, Buffer.from('*1\r\n$600000000\r\n')]), ok, Buffer.from('*1\r\n$x\r\n'), 'invalid bulk length');
  broken(Buffer.concat([ok, Buffer.from('*1\r\n#4\r\n')]), ok, Buffer.from('*1\r\n#\r\n'), "expected '$'");
  broken(Buffer.concat([ok, Buffer.from('AUTH "a"b\r\n')]), ok, Buffer.from('"\r\n'), 'unbalanced quotes');
  // Other inline lines are not split: they end at the newline whatever their quoting, and the server rejects bad quoting itself.
  const echo = Buffer.from('ECHO "unbalanced\r\n');
  assert.deepEqual(scan(Buffer.concat([ok, echo]), []).out, Buffer.concat([ok, echo]));
  // Mid-command: the arguments before the bad header went out already; only the header follows.
  const partial = Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n');
  broken(Buffer.concat([ok, partial, Buffer.from('$x\r\n')]), Buffer.concat([ok, partial]), Buffer.from('$x\r\n'), 'invalid bulk length');
});

test('too long header lines and inline requests: a stand-in longer than the server accepts', () => {
  const ok = cmd('PING');
  const tooBig = (b: Buffer) => b.length === MAX_INLINE + 1 && !b.includes(0x0a) && !b.includes(0x0d);
  const r = scan(Buffer.concat([ok, Buffer.alloc(MAX_INLINE + 10, 0x61)]), [ok.length + 100, ok.length + 40_000]);
  assert.deepEqual(r.failures, ['too big request']);
  assert.deepEqual(r.out.subarray(0, ok.length), ok);
  assert.ok(tooBig(r.out.subarray(ok.length)));
  // An inline line with a NUL before its newline never ends for the server either.
  const nul = scan(Buffer.concat([ok, Buffer.from('GET a\0b\n'), Buffer.alloc(MAX_INLINE, 0x62)]), []);
  assert.deepEqual(nul.failures, ['too big request']);
  // An AUTH too big to hold is refused rather than buffered without end.
  const huge = scan(cmd('AUTH', Buffer.alloc(MAX_CAPTURE, 0x70)), [10]);
  assert.deepEqual(huge.failures, ['oversized AUTH/HELLO']);
  assert.deepEqual(huge.calls, []);
});

test('inline words follow the server: quotes, escapes, \\xHH, blanks, NUL ends nothing before the newline check', () => {
  const r = scan(Buffer.from('AUTH "a\\x41\\n" \'b c\'\t  x\r\nHELLO 3 AUTH "" \'\'\n'), []);
  assert.deepEqual(r.calls, [
    ['AUTH', 'aA\n', 'b c', 'x'],
    ['HELLO', '3', 'AUTH', '', ''],
  ]);
});
