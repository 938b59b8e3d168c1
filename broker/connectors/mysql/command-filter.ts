// The one exception to "no parsing in the data phase": a packet-header walker on the
// client->server direction that refuses COM_CHANGE_USER, so a client can never switch
// identity through the broker. It reads only the 4-byte header of each packet and the
// first payload byte of packets that start a command (sequence 0), and forwards
// everything else as slices of the chunks it was given (no copies).
//
// A sequence-0 packet starts a command unless it continues the previous packet: a
// packet of 0xffffff bytes continues in the next one, and LOAD DATA LOCAL content
// packets carry on from sequence 255 to 0. So: the previous client packet had
// sequence 255 and a non-empty payload -> continuation; otherwise a command.
import { COM, MAX_PAYLOAD } from './codec.js';

export interface FilterResult {
  /** Bytes to forward to the backend, in order. */
  forward: Buffer[];
  /** Number of COM_CHANGE_USER packets dropped in this chunk. */
  refused: number;
}

export interface CommandFilter {
  push(chunk: Buffer): FilterResult;
  /** Between packets, the last one not continued: a chunk of whole command packets would be judged on its own. */
  idle(): boolean;
}

export function createCommandFilter(blocked: ReadonlySet<number> = new Set([COM.CHANGE_USER])): CommandFilter {
  let remaining = 0; // payload bytes left in the current packet
  let dropping = false;
  let carry: Buffer | null = null; // a packet header split across chunks
  let prevSeq = -1;
  let prevLength = 1;

  return {
    push(input) {
      const chunk = carry ? Buffer.concat([carry, input]) : input;
      carry = null;
      const forward: Buffer[] = [];
      let refused = 0;
      let runStart = 0; // start of the bytes to forward not yet emitted
      let i = 0;
      while (i < chunk.length) {
        if (remaining > 0) {
          const take = Math.min(remaining, chunk.length - i);
          if (dropping && take > 0) {
            if (i > runStart) forward.push(chunk.subarray(runStart, i));
            runStart = i + take;
          }
          i += take;
          remaining -= take;
          continue;
        }
        // At a packet header: need 4 bytes, plus the first payload byte for a command.
        if (chunk.length - i < 4) break;
        const length = chunk[i]! | (chunk[i + 1]! << 8) | (chunk[i + 2]! << 16);
        const seq = chunk[i + 3]!;
        const continuation = prevLength === MAX_PAYLOAD || (prevSeq === 255 && prevLength > 0);
        const startsCommand = seq === 0 && length > 0 && !continuation;
        if (startsCommand && chunk.length - i < 5) break;
        if (dropping && prevLength === MAX_PAYLOAD) {
          // still inside a dropped multi-packet command
        } else dropping = startsCommand && blocked.has(chunk[i + 4]!);
        if (dropping) {
          if (seq === 0) refused++;
          if (i > runStart) forward.push(chunk.subarray(runStart, i));
          runStart = i + 4;
        }
        prevSeq = seq;
        prevLength = length;
        remaining = length;
        i += 4;
      }
      if (i < chunk.length) {
        // An incomplete header at the end: keep it for the next chunk.
        if (i > runStart) forward.push(chunk.subarray(runStart, i));
        carry = Buffer.from(chunk.subarray(i));
        runStart = chunk.length;
      }
      if (runStart < chunk.length) forward.push(runStart === 0 ? chunk : chunk.subarray(runStart));
      return { forward, refused };
    },
    idle: () => carry === null && remaining === 0 && prevLength !== MAX_PAYLOAD && !(prevSeq === 255 && prevLength > 0),
  };
}
