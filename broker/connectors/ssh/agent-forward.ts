// Agent forwarding through the broker (allowAgentForwarding): when the target opens an
// auth-agent channel on the upstream connection, the broker opens one to the client
// and joins the two, so the client's own agent answers. ssh2's server has no public
// call for that channel type (ssh2-internals.ts opens it).
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { Connection, ParsedKey } from 'ssh2';
import { openAgentChannel } from '../../ssh/ssh2-internals.js';

const MAX_WINDOW = 2 * 1024 * 1024;
const PACKET_SIZE = 32 * 1024;

/** The `agent` for the upstream ssh2 client: each stream is a channel to the client's agent. */
export class ClientAgentRelay extends ssh2.BaseAgent {
  constructor(private readonly conn: Connection) {
    super();
  }
  // The broker never authenticates with the client's agent: only the target uses it.
  getIdentities(cb: (err: Error | undefined, keys?: ParsedKey[]) => void): void {
    cb(new Error('not used for authentication'));
  }
  sign(_key: ParsedKey, _data: Buffer, _options: unknown, cb?: (err: Error | undefined, signature?: Buffer) => void): void {
    cb?.(new Error('not used for authentication'));
  }
  override getStream(cb: (err: Error | undefined, stream?: Duplex) => void): void {
    try {
      openAgentChannel(this.conn, MAX_WINDOW, PACKET_SIZE, cb);
    } catch (err) {
      cb(err as Error);
    }
  }
}
