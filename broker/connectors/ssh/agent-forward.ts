// Agent forwarding through the broker (allowAgentForwarding): when the target opens an
// auth-agent channel on the upstream connection, the broker opens one to the client
// and joins the two, so the client's own agent answers. ssh2's server has no public
// call for that channel type, so it is opened on ssh2's channel manager and protocol,
// as its own forwardOut() does for forwarded-tcpip.
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { Connection, ParsedKey } from 'ssh2';

const MAX_WINDOW = 2 * 1024 * 1024;
const PACKET_SIZE = 32 * 1024;

type OpenCallback = ((err: Error | undefined, stream?: Duplex) => void) & { type?: string };

interface ServerInternals {
  _chanMgr: { add(cb: OpenCallback): number };
  _protocol: { openssh_authAgent(chan: number, window: number, packet: number): void };
}

function openAgentChannel(conn: Connection, cb: (err: Error | undefined, stream?: Duplex) => void): void {
  const internals = conn as unknown as ServerInternals;
  const wrapper: OpenCallback = (err, stream) => cb(err, stream);
  wrapper.type = 'auth-agent@openssh.com';
  const local = internals._chanMgr.add(wrapper);
  if (local === -1) return cb(new Error('no free channels'));
  internals._protocol.openssh_authAgent(local, MAX_WINDOW, PACKET_SIZE);
}

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
      openAgentChannel(this.conn, cb);
    } catch (err) {
      cb(err as Error);
    }
  }
}
