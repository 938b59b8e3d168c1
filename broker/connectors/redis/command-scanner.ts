// The data-phase exception for Redis: an incremental scanner over the client->server
// request stream that finds command boundaries exactly as the server does
// (processMultibulkBuffer / processInlineBuffer in Redis's networking.c) and looks only
// at command names. Commands whose name is AUTH or HELLO are collected whole and handed
// to `rewrite`, which returns the bytes to send instead; everything else is forwarded
// as slices of the chunks it came in (no copies, no parsing of arguments: a bulk
// argument is skipped by its length).
//
// A request the server would reject as a protocol error is not forwarded: the bytes
// before it are, then a stand-in that fails with the same error, and nothing after it
// (the server closes the connection after a protocol error). So the scanner and the
// server can never disagree on where a command starts.
import { headerInt, splitArgs } from './resp.js';

/** PROTO_INLINE_MAX_SIZE: longest header line / inline request the server buffers. */
export const MAX_INLINE = 64 * 1024;
/** proto-max-bulk-len's default. */
export const MAX_BULK = 512 * 1024 * 1024;
/** AUTH/HELLO commands are held whole until complete; none is legitimately this big. */
export const MAX_CAPTURE = 64 * 1024;
const INT_MAX = 2147483647;

export type ScanFailure = 'invalid multibulk length' | 'invalid bulk length' | "expected '$'" | 'unbalanced quotes' | 'too big request' | 'oversized AUTH/HELLO';

export interface CommandScanner {
  /** Bytes to forward for this chunk, in order. */
  push(chunk: Buffer): Buffer[];
  /** At a command start with nothing carried over (and not broken): a chunk of plain commands would be forwarded as it is. */
  idle(): boolean;
}

export interface ScannerHooks {
  /** Called with the arguments (name first) of each AUTH/HELLO command; returns what to send instead (null: the command as it is). */
  rewrite(args: Buffer[]): Buffer | null;
  /** The stream broke the protocol; the server is sent a request that fails the same way. */
  onProtocolError?(reason: ScanFailure): void;
}

const enum St {
  Start,
  Header,
  Body,
}

/** AUTH (4) or HELLO (5), any case. */
function isIntercepted(buf: Buffer, at: number, len: number): boolean {
  if (len === 4)
    return (buf[at]! | 0x20) === 0x61 && (buf[at + 1]! | 0x20) === 0x75 && (buf[at + 2]! | 0x20) === 0x74 && (buf[at + 3]! | 0x20) === 0x68;
  if (len === 5)
    return (
      (buf[at]! | 0x20) === 0x68 &&
      (buf[at + 1]! | 0x20) === 0x65 &&
      (buf[at + 2]! | 0x20) === 0x6c &&
      (buf[at + 3]! | 0x20) === 0x6c &&
      (buf[at + 4]! | 0x20) === 0x6f
    );
  return false;
}

/** Index of the next CR at or after `from`, or -1. A plain loop: header lines are a few bytes, and a native indexOf call costs more than scanning them. */
function findCR(buf: Buffer, from: number, n: number): number {
  for (let i = from; i < n; i++) if (buf[i] === 0x0d) return i;
  return -1;
}

/** Whether an inline line's first word could be AUTH or HELLO (or is quoted and must be split to tell). */
function mayBeIntercepted(buf: Buffer, start: number, end: number): boolean {
  let i = start;
  while (i < end && (buf[i] === 0x20 || (buf[i]! >= 0x09 && buf[i]! <= 0x0d))) i++;
  const c = buf[i]! | 0x20;
  return i < end && (c === 0x61 || c === 0x68 || buf[i] === 0x22 || buf[i] === 0x27);
}

/** A request the server rejects with the same protocol error (it then closes the connection). */
function standIn(reason: ScanFailure, offending: number): Buffer {
  switch (reason) {
    case 'invalid multibulk length':
      return Buffer.from('*x\r\n');
    case "expected '$'":
      return Buffer.concat([Buffer.from('*1\r\n'), Buffer.from([offending]), Buffer.from('\r\n')]);
    case 'unbalanced quotes':
      return Buffer.from('"\r\n');
    case 'too big request':
      return Buffer.alloc(MAX_INLINE + 1, 0x78);
    default:
      return Buffer.from('*1\r\n$x\r\n');
  }
}

/** The CR that ends the header headerAt() read. */
let headerCR = 0;

/**
 * The number in the header line at `i` (`*N` or `$N`), as findCR + headerInt read it,
 * or null when the line is not whole in the chunk or not a number (headerCR: its CR).
 * Plain digits, the usual case, are read in one pass.
 */
function headerAt(buf: Buffer, i: number, n: number): number | null {
  let v = 0;
  let j = i + 1;
  for (; j < n; j++) {
    const c = buf[j]! - 0x30;
    if (c < 0 || c > 9) break;
    v = v * 10 + c;
  }
  const digits = j - i - 1;
  if (j + 1 < n && buf[j] === 0x0d && digits >= 1 && digits <= 9 && (digits === 1 || buf[i + 1] !== 0x30)) {
    headerCR = j;
    return v;
  }
  const cr = findCR(buf, i, n);
  if (cr === -1 || cr + 1 >= n) return null;
  headerCR = cr;
  return headerInt(buf, i + 1, cr);
}

/** Where wholeArgs() stopped: the first byte after the last argument it skipped. */
let argsEnd = 0;

/**
 * Skips the arguments of a `count`-argument command from `i` on that are whole in the
 * chunk, checking the name; stops at the first one that is not (incomplete, malformed,
 * or the name of a command to collect). Returns how many it skipped (argsEnd: where it
 * stopped); a module variable rather than an object, as this runs for every command.
 */
function wholeArgs(buf: Buffer, i: number, n: number, count: number): number {
  let k = 0;
  for (; k < count; k++) {
    if (i >= n || buf[i] !== 0x24) break;
    const len = headerAt(buf, i, n);
    if (len === null || len < 0 || len > MAX_BULK) break;
    const hcr = headerCR;
    const end = hcr + 4 + len;
    if (end > n || (k === 0 && (len === 4 || len === 5) && isIntercepted(buf, hcr + 2, len))) break;
    i = end;
  }
  argsEnd = i;
  return k;
}

/**
 * The end of the run of whole multibulk commands from `i` on that need nothing done (no
 * AUTH or HELLO, nothing malformed, none cut by the chunk's end): n when that is all
 * the chunk holds, the usual case, which then costs no state machine.
 */
function plainCommandsEnd(buf: Buffer, i: number, n: number): number {
  while (i < n && buf[i] === 0x2a) {
    const count = headerAt(buf, i, n);
    if (count === null || count <= 0 || count > INT_MAX || wholeArgs(buf, headerCR + 2, n, count) < count) break;
    i = argsEnd;
  }
  return i;
}

/** The arguments of one complete multibulk command (already validated by the scanner). */
function multibulkArgs(cmd: Buffer): Buffer[] {
  const args: Buffer[] = [];
  let cr = cmd.indexOf(0x0d, 1);
  const count = headerInt(cmd, 1, cr)!;
  let i = cr + 2;
  for (let k = 0; k < count; k++) {
    cr = cmd.indexOf(0x0d, i + 1);
    const len = headerInt(cmd, i + 1, cr)!;
    args.push(cmd.subarray(cr + 2, cr + 2 + len));
    i = cr + 2 + len + 2;
  }
  return args;
}

export function createCommandScanner(hooks: ScannerHooks): CommandScanner {
  let state = St.Start;
  let argsLeft = 0;
  let argIndex = 0;
  let bodyLeft = 0;
  let carry: Buffer | null = null;
  let broken = false;

  /** The state machine over `input` (after the carry), from `from` on, at a command start unless there is a carry. */
  function scan(input: Buffer, from: number): Buffer[] {
    const buf = carry ? Buffer.concat([carry, input]) : input;
    carry = null;
    const n = buf.length;
    const out: Buffer[] = [];
    let runStart = 0; // first byte not yet emitted
    let i = from;
    let cmdStart = 0; // meaningful while state is Start, argIndex is 0, or capturing
    let capturing = false;
    let resumeAt = -1; // carry from here (and re-parse) when the chunk ends mid-header
    let resumeState = St.Start;

    const emitUpTo = (end: number) => {
      if (end > runStart) out.push(runStart === 0 && end === n ? buf : buf.subarray(runStart, end));
    };
    // Inside a command whose earlier arguments went out already, the stand-in is the
    // failing argument header alone, so the server fails at the same point.
    const fail = (reason: ScanFailure, offending = 0): Buffer[] => {
      const midCommand = state === St.Header && argIndex > 0 && !capturing;
      emitUpTo(midCommand ? i : cmdStart);
      const bytes = standIn(reason, offending);
      out.push(midCommand && bytes[0] === 0x2a ? bytes.subarray(4) : bytes);
      broken = true;
      hooks.onProtocolError?.(reason);
      return out;
    };

    while (i < n) {
      if (state === St.Body) {
        const take = Math.min(bodyLeft, n - i);
        i += take;
        bodyLeft -= take;
        if (bodyLeft > 0) break;
        argIndex++;
        if (--argsLeft > 0) {
          state = St.Header;
          continue;
        }
        state = St.Start;
        if (capturing) {
          capturing = false;
          const replacement = hooks.rewrite(multibulkArgs(buf.subarray(cmdStart, i)));
          if (replacement) {
            emitUpTo(cmdStart);
            out.push(replacement);
            runStart = i;
          }
        }
        continue;
      }
      if (state === St.Start) {
        cmdStart = i;
        if (buf[i] === 0x2a) {
          // *<count>\r\n
          const cr = findCR(buf, i, n);
          if (cr === -1 || cr + 1 >= n) {
            if (n - i > MAX_INLINE) return fail('too big request');
            resumeAt = i;
            resumeState = St.Start;
            break;
          }
          const count = headerInt(buf, i + 1, cr);
          if (count === null || count > INT_MAX) return fail('invalid multibulk length');
          i = cr + 2;
          if (count <= 0) continue; // an empty request: nothing to run
          // The arguments that are whole in this chunk are skipped; the state machine
          // below takes over at the first one that is not.
          const k = wholeArgs(buf, i, n, count);
          i = argsEnd;
          if (k === count) continue;
          argsLeft = count - k;
          argIndex = k;
          state = St.Header;
          continue;
        }
        // An inline request: one line; the server's strchr stops at a NUL byte.
        const nl = buf.indexOf(0x0a, i);
        if (nl === -1 || buf.subarray(i, nl).includes(0)) {
          if (n - i > MAX_INLINE) return fail('too big request');
          resumeAt = i;
          resumeState = St.Start;
          break;
        }
        const end = nl > i && buf[nl - 1] === 0x0d ? nl - 1 : nl;
        // Only a line whose first word may be AUTH or HELLO is split into words: the
        // line ends at the newline either way, and the server rejects bad quoting itself.
        if (mayBeIntercepted(buf, i, end)) {
          const args = splitArgs(buf.subarray(i, end));
          if (args === null) return fail('unbalanced quotes');
          const replacement = args.length > 0 && isIntercepted(args[0]!, 0, args[0]!.length) ? hooks.rewrite(args) : null;
          if (replacement) {
            emitUpTo(i);
            out.push(replacement);
            runStart = nl + 1;
          }
        }
        i = nl + 1;
        continue;
      }
      // St.Header: $<len>\r\n
      const cr = findCR(buf, i, n);
      if (cr === -1 || cr + 1 >= n) {
        if (n - i > MAX_INLINE) return fail('too big request');
        resumeAt = argIndex === 0 ? cmdStart : i;
        resumeState = argIndex === 0 ? St.Start : St.Header;
        break;
      }
      if (buf[i] !== 0x24) return fail("expected '$'", buf[i]!);
      const len = headerInt(buf, i + 1, cr);
      if (len === null || len < 0 || len > MAX_BULK) return fail('invalid bulk length');
      const body = cr + 2;
      if (argIndex === 0 && (len === 4 || len === 5)) {
        if (n < body + len) {
          resumeAt = cmdStart;
          resumeState = St.Start;
          break;
        }
        capturing = isIntercepted(buf, body, len);
      }
      if (capturing && body + len - cmdStart > MAX_CAPTURE) return fail('oversized AUTH/HELLO');
      state = St.Body;
      bodyLeft = len + 2;
      i = body;
    }

    // A command whose name is not known yet (the chunk ended right after `*N`) or that
    // is being collected starts over from its first byte with the next chunk.
    if (capturing || (resumeAt === -1 && state === St.Header && argIndex === 0)) {
      resumeAt = cmdStart;
      resumeState = St.Start;
    }
    if (resumeAt !== -1) {
      // Re-parse from a header start next time: the command start while its name is
      // unknown or it is being collected, else the argument header.
      state = resumeState;
      emitUpTo(resumeAt);
      carry = Buffer.from(buf.subarray(resumeAt));
    } else emitUpTo(n);
    return out;
  }

  return {
    push(input) {
      if (broken) return [];
      if (carry !== null || state !== St.Start) return scan(input, 0);
      const end = plainCommandsEnd(input, 0, input.length);
      return end === input.length ? [input] : scan(input, end);
    },
    idle: () => !broken && carry === null && state === St.Start,
  };
}
