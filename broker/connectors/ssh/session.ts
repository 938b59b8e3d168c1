// Bridges an authenticated client connection to the upstream ssh2 client, channel by
// channel: sessions (env, pty-req, window-change, shell, exec, subsystem incl. sftp,
// signal, exit-status / exit-signal) and direct-tcpip (ssh -L). Remote forwarding and
// agent forwarding only when the service enables them; X11 and everything else are
// refused.
import type { Duplex } from 'node:stream';
import type { Client, ClientChannel, Connection, PseudoTtyOptions, ServerChannel, Session } from 'ssh2';
import type { Logger } from '../../log.js';
import { sendChannelExit } from '../../ssh/ssh2-internals.js';

export interface BridgeOptions {
  allowRemoteForwarding: boolean;
  /** The upstream client was created with a ClientAgentRelay (agent-forward.ts). */
  allowAgentForwarding: boolean;
  logger: Logger;
}

/** exit-status / exit-signal may follow our EOF (RFC 4254 6.10); ssh2's exit() only sends while 'open'. */
function sendExit(down: ServerChannel, code: number | null, signal?: string, dumped?: boolean, desc?: string): void {
  if (code !== null && code !== undefined) sendChannelExit(down, { code });
  else if (signal) sendChannelExit(down, { signal: signal.replace(/^SIG/, ''), dumped: !!dumped, desc: desc ?? '' });
}

/** Data first, then EOF: an empty write's callback runs after everything queued before it. */
function eofAfterFlush(ch: Duplex & { eof(): void }): void {
  ch.write(Buffer.alloc(0), () => ch.eof());
}

/** A session's data, stderr, EOF, exit and close, both ways. */
function wireSession(down: ServerChannel, up: ClientChannel): void {
  down.on('data', (d: Buffer) => {
    if (!up.write(d)) down.pause();
  });
  up.on('drain', () => down.resume());
  up.on('data', (d: Buffer) => {
    if (!down.write(d)) up.pause();
  });
  down.on('drain', () => up.resume());
  up.stderr.on('data', (d: Buffer) => {
    if (!down.stderr.write(d)) up.stderr.pause();
  });
  down.stderr.on('drain', () => up.stderr.resume());
  down.on('end', () => up.end());
  up.on('end', () => eofAfterFlush(down as unknown as Duplex & { eof(): void }));
  up.on('exit', (code: number | null, signal?: string, dumped?: boolean, desc?: string) => sendExit(down, code, signal, dumped, desc));
  up.on('close', () => down.end());
  down.on('close', () => up.close());
  down.on('error', () => up.close());
  up.on('error', () => down.close());
}

/** Plain channels (direct-tcpip, forwarded-tcpip): bytes and EOF both ways. */
function wirePlain(a: Duplex & { close(): void }, b: Duplex & { close(): void }): void {
  a.pipe(b);
  b.pipe(a);
  a.on('close', () => b.close());
  b.on('close', () => a.close());
  a.on('error', () => b.close());
  b.on('error', () => a.close());
}

function bridgeSession(session: Session, upstream: Client, opts: BridgeOptions): void {
  const env: Record<string, string> = {};
  let pty: PseudoTtyOptions | undefined;
  let up: ClientChannel | undefined;
  let agent = false;
  session.on('env', (accept, _reject, info) => {
    env[info.key] = info.val;
    accept?.();
  });
  session.on('pty', (accept, _reject, info) => {
    pty = { rows: info.rows, cols: info.cols, height: info.height, width: info.width, term: info.term, modes: info.modes };
    accept?.();
  });
  session.on('window-change', (accept, _reject, info) => {
    if (up) up.setWindow(info.rows, info.cols, info.height, info.width);
    else if (pty) Object.assign(pty, { rows: info.rows, cols: info.cols, height: info.height, width: info.width });
    accept?.();
  });
  session.on('signal', (accept, _reject, info) => {
    up?.signal(info.name);
    accept?.();
  });
  session.on('auth-agent', (accept, reject) => {
    if (!opts.allowAgentForwarding) {
      opts.logger.info('ssh agent forwarding refused (allowAgentForwarding is off)');
      return reject?.();
    }
    agent = true;
    accept?.();
  });
  session.on('x11', (_accept, reject) => reject?.());
  // The client's channel is accepted at once: ssh2 forgets a session whose client sent
  // EOF (ssh < /dev/null) before the accept, and the upstream answer comes later. Data
  // the client sends meanwhile waits in the paused channel.
  const start = (kind: string, accept: () => ServerChannel | undefined) => {
    const down = accept();
    if (!down) return undefined;
    return (err: Error | undefined, channel: ClientChannel) => {
      if (err) {
        opts.logger.info('ssh upstream refused a session request', { request: kind, reason: err.message });
        down.stderr.write(`secretless-desktop: the SSH target refused the ${kind} request\r\n`);
        sendExit(down, 255);
        down.end();
        return;
      }
      up = channel;
      wireSession(down, channel);
    };
  };
  // agentForward is read by ssh2 at runtime though its types omit it.
  const sessionOptions = () => ({ ...(Object.keys(env).length ? { env } : {}), ...(agent ? { agentForward: true } : {}) });
  // ssh2 throws synchronously when the upstream connection is already gone.
  const attempt = (started: ReturnType<typeof start>, open: (cb: NonNullable<typeof started>) => void) => {
    if (!started) return;
    try {
      open(started);
    } catch (err) {
      started(err as Error, undefined as unknown as ClientChannel);
    }
  };
  session.on('shell', (accept) => attempt(start('shell', accept), (cb) => upstream.shell(pty ?? false, sessionOptions(), cb)));
  session.on('exec', (accept, _reject, info) =>
    attempt(start('exec', accept), (cb) => upstream.exec(info.command, { ...sessionOptions(), ...(pty ? { pty } : {}) }, cb)),
  );
  session.on('subsystem', (accept, _reject, info) =>
    attempt(start(`subsystem ${info.name}`, accept as () => ServerChannel), (cb) => upstream.subsys(info.name, cb)),
  );
  session.on('close', () => up?.close());
}

/** Runs until either side goes away; resolves once both are closed. */
export function bridge(conn: Connection, upstream: Client, opts: BridgeOptions): Promise<void> {
  conn.on('session', (accept) => bridgeSession(accept(), upstream, opts));
  conn.on('tcpip', (accept, reject, info) => {
    const opened = (err: Error | undefined, channel?: ClientChannel) => {
      if (err || !channel) {
        opts.logger.info('ssh upstream refused a direct-tcpip channel', { dest: `${info.destIP}:${info.destPort}`, reason: err?.message ?? 'no channel' });
        return reject();
      }
      wirePlain(accept() as unknown as Duplex & { close(): void }, channel as unknown as Duplex & { close(): void });
    };
    try {
      upstream.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, opened);
    } catch (err) {
      opened(err as Error);
    }
  });
  conn.on('request', (accept, reject, name, info) => {
    const bind = info as { bindAddr: string; bindPort: number };
    if (!opts.allowRemoteForwarding || (name !== 'tcpip-forward' && name !== 'cancel-tcpip-forward')) {
      if (name === 'tcpip-forward') opts.logger.info('ssh remote forwarding refused (allowRemoteForwarding is off)');
      return reject?.();
    }
    try {
      if (name === 'tcpip-forward') upstream.forwardIn(bind.bindAddr, bind.bindPort, (err, port) => (err ? reject?.() : (accept as (p?: number) => void)?.(port)));
      else upstream.unforwardIn(bind.bindAddr, bind.bindPort, (err) => (err ? reject?.() : accept?.()));
    } catch {
      reject?.();
    }
  });
  upstream.on('tcp connection', (info, accept, reject) => {
    try {
      conn.forwardOut(info.destIP, info.destPort, info.srcIP, info.srcPort, (err, channel) => {
        if (err) return reject();
        wirePlain(accept() as unknown as Duplex & { close(): void }, channel as unknown as Duplex & { close(): void });
      });
    } catch {
      reject();
    }
  });
  return new Promise((resolve) => {
    let open = 2;
    const closed = () => {
      if (--open === 0) resolve();
    };
    conn.once('close', () => {
      upstream.end();
      closed();
    });
    upstream.once('close', () => {
      conn.end();
      closed();
    });
  });
}
