// Listeners: a TCP port (loopback unless the service explicitly allows remote clients) or a
// Unix socket (mode 0600 from the first moment it is reachable, stale sockets cleaned up,
// never deleting a file that is not a socket).

import net from 'node:net';
import { lookup } from 'node:dns/promises';
import path from 'node:path';
import { chmod, link, lstat, mkdtemp, rename, rm, stat, unlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { isLoopbackAddress } from '../config/listen-address.js';
import type { ListenAddress } from '../config/types.js';

export { isLoopbackAddress };
import type { ClientInfo } from '../audit/types.js';
import type { Logger } from '../log.js';

export interface Listener {
  /** The bound address: the port is resolved when 0 was asked, a unix path is absolute. */
  readonly address: ListenAddress;
  /** `tcp://127.0.0.1:5432`, `tcp://[::1]:5432` or `unix:///path/to/socket`. */
  readonly display: string;
  /** Closes the server socket (and removes our unix socket file); open connections stay. */
  stopAccepting(): Promise<void>;
}

export interface ListenOptions {
  allowRemote: boolean;
  logger: Logger;
}

export type ConnectionHandler = (socket: net.Socket, client: ClientInfo) => void;

export async function listen(
  address: ListenAddress,
  onConnection: ConnectionHandler,
  options: ListenOptions,
): Promise<Listener> {
  return address.type === 'tcp'
    ? listenTcp(address, onConnection, options)
    : listenUnix(address, onConnection, options);
}

export function displayAddress(address: ListenAddress): string {
  if (address.type === 'unix') return `unix://${address.path}`;
  const host = net.isIPv6(address.host) ? `[${address.host}]` : address.host;
  return `tcp://${host}:${address.port}`;
}

// ---------------------------------------------------------------------------------------
// TCP

type TcpAddress = Extract<ListenAddress, { type: 'tcp' }>;
type UnixAddress = Extract<ListenAddress, { type: 'unix' }>;

async function listenTcp(address: TcpAddress, onConnection: ConnectionHandler, options: ListenOptions): Promise<Listener> {
  const requested = displayAddress(address);
  const host = await bindHost(address.host, options.allowRemote, requested);
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    const client: ClientInfo = { transport: 'tcp', address: socket.remoteAddress, port: socket.remotePort };
    dispatch(onConnection, socket, client, options.logger);
  });
  await startServer(server, { host, port: address.port }, requested);
  const bound = server.address() as net.AddressInfo;
  const actual: TcpAddress = { type: 'tcp', host: bound.address, port: bound.port };
  const display = displayAddress(actual);
  if (!isLoopbackAddress(bound.address)) {
    options.logger.warn('listening on a non-loopback address: other machines can connect', { address: display });
  }
  watchErrors(server, display, options.logger);
  options.logger.debug('listening', { address: display });
  return { address: actual, display, stopAccepting: once(async () => closeServer(server)) };
}

/**
 * The address to bind. Without allowRemote it must be loopback; a hostname is resolved
 * here (rather than by listen()) so that every address it names is checked first.
 */
async function bindHost(host: string, allowRemote: boolean, display: string): Promise<string> {
  if (allowRemote) return host;
  if (net.isIP(host)) {
    if (isLoopbackAddress(host)) return host;
    throw notLoopback(display);
  }
  let addresses: { address: string; family: number }[];
  try {
    addresses = await lookup(host, { all: true });
  } catch (err) {
    throw new Error(`cannot resolve listen host '${host}' for ${display}: ${(err as Error).message}`, { cause: err });
  }
  if (addresses.length === 0 || !addresses.every((a) => isLoopbackAddress(a.address))) throw notLoopback(display);
  // One address gets bound; IPv4 first, since more clients turn "localhost" into 127.0.0.1.
  return (addresses.find((a) => a.family === 4) ?? addresses[0]).address;
}

function notLoopback(display: string): Error {
  return new Error(
    `refusing to listen on ${display}: not a loopback address (127.0.0.0/8, ::1 or localhost); ` +
      'set allowRemote on the service to accept connections from other machines',
  );
}

// ---------------------------------------------------------------------------------------
// Unix sockets

// sun_path holds 108 bytes on Linux, 104 on macOS and the BSDs, including the final NUL.
const maxSocketPath = process.platform === 'linux' ? 107 : 103;
// The socket is first bound at <dir>/.slXXXXXX/s: mkdtemp adds six characters.
const tempPrefix = '.sl';
const tempSocketName = 's';

async function listenUnix(address: UnixAddress, onConnection: ConnectionHandler, options: ListenOptions): Promise<Listener> {
  if (process.platform === 'win32') throw new Error('unix socket listeners are not supported on Windows; use tcp');
  const socketPath = path.resolve(address.path);
  const actual: UnixAddress = { type: 'unix', path: socketPath };
  const display = displayAddress(actual);
  const dir = path.dirname(socketPath);
  checkPathLength(socketPath, dir, display);
  await checkParentDir(dir, display);
  await removeStaleSocket(socketPath, display, options.logger);

  const server = net.createServer((socket) => dispatch(onConnection, socket, { transport: 'unix' }, options.logger));
  const ours = await bindPrivately(server, socketPath, display, options.logger);
  watchErrors(server, display, options.logger);
  options.logger.debug('listening', { address: display });
  const stopAccepting = once(async () => {
    closeServer(server);
    await unlinkIfOurs(socketPath, ours);
  });
  return { address: actual, display, stopAccepting };
}

function checkPathLength(socketPath: string, dir: string, display: string): void {
  const finalBytes = Buffer.byteLength(socketPath);
  const tempBytes = Buffer.byteLength(path.join(dir, `${tempPrefix}XXXXXX`, tempSocketName));
  if (finalBytes > maxSocketPath || tempBytes > maxSocketPath) {
    const limit = maxSocketPath - (tempBytes - finalBytes > 0 ? tempBytes - finalBytes : 0);
    throw new Error(
      `cannot listen on ${display}: the socket path is ${finalBytes} bytes long, at most ${limit} fit ` +
        `(the OS limit is ${maxSocketPath}); choose a shorter path`,
    );
  }
}

async function checkParentDir(dir: string, display: string): Promise<void> {
  let st: Stats;
  try {
    st = await stat(dir);
  } catch (err) {
    if (errno(err) === 'ENOENT') throw new Error(`cannot listen on ${display}: directory ${dir} does not exist`);
    throw new Error(`cannot listen on ${display}: cannot access directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  if (!st.isDirectory()) throw new Error(`cannot listen on ${display}: ${dir} is not a directory`);
}

/**
 * Clears the way for our socket: nothing there is fine; a socket nobody accepts on is a
 * leftover from a crashed run and is removed; anything else is an error and left alone.
 */
async function removeStaleSocket(socketPath: string, display: string, logger: Logger): Promise<void> {
  const st = await lstatOrUndefined(socketPath);
  if (!st) return;
  if (!st.isSocket()) {
    const what = st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? 'a directory' : 'a file that is not a socket';
    throw new Error(`cannot listen on ${display}: the path exists and is ${what}; it was left untouched`);
  }
  const state = await probeSocket(socketPath);
  if (state === 'live') throw new Error(`address ${display} is already in use by another process`);
  if (state === 'unknown') throw new Error(`cannot listen on ${display}: an existing socket is there and its state could not be checked`);
  if (state === 'stale') {
    // Remove it only if it is still the socket we probed, not something swapped in since.
    const again = await lstatOrUndefined(socketPath);
    if (again && sameFile(again, st)) await unlink(socketPath).catch(ignoreCode('ENOENT'));
    logger.info('removed stale unix socket', { address: display });
  }
}

type SocketState = 'live' | 'stale' | 'gone' | 'unknown';

function probeSocket(socketPath: string): Promise<SocketState> {
  return new Promise((resolve) => {
    const probe = net.connect({ path: socketPath });
    const finish = (state: SocketState): void => {
      clearTimeout(timer);
      probe.destroy();
      resolve(state);
    };
    // A listener with a full backlog can leave connect pending: that is a live socket.
    const timer = setTimeout(() => finish('live'), 1000);
    probe.once('connect', () => finish('live'));
    probe.once('error', (err) => {
      const code = errno(err);
      finish(code === 'ECONNREFUSED' ? 'stale' : code === 'ENOENT' ? 'gone' : code === 'EAGAIN' ? 'live' : 'unknown');
    });
  });
}

interface FileId {
  dev: number;
  ino: number;
}

/**
 * Binds inside a fresh 0700 directory, sets the socket to 0600, then hard-links it to its
 * final name. Until the link exists only our user can reach the socket (the directory
 * guards it), so the final path is 0600 from the first moment anyone can connect. link()
 * also never replaces an existing file, unlike rename(). Linux and macOS keep the
 * listening socket reachable through the new name.
 */
async function bindPrivately(server: net.Server, socketPath: string, display: string, logger: Logger): Promise<FileId> {
  const tempDir = await mkdtemp(path.join(path.dirname(socketPath), tempPrefix)).catch((err: unknown) => {
    throw new Error(`cannot listen on ${display}: cannot create a socket in ${path.dirname(socketPath)}: ${(err as Error).message}`, {
      cause: err,
    });
  });
  const tempPath = path.join(tempDir, tempSocketName);
  try {
    await startServer(server, { path: tempPath }, display);
    await chmod(tempPath, 0o600);
    await publish(tempPath, socketPath, display, logger);
    const st = await lstat(socketPath);
    return { dev: st.dev, ino: st.ino };
  } catch (err) {
    closeServer(server);
    throw err;
  } finally {
    await rm(tempDir, { recursive: true, force: true }).catch(() => {});
  }
}

async function publish(tempPath: string, socketPath: string, display: string, logger: Logger): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await link(tempPath, socketPath);
      return;
    } catch (err) {
      const code = errno(err);
      if (code === 'EEXIST' && attempt === 0) {
        // Something appeared since we looked: judge it the same way, then try once more.
        await removeStaleSocket(socketPath, display, logger);
        continue;
      }
      if (code === 'EEXIST') throw new Error(`address ${display} is already in use by another process`);
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
        // A filesystem without hard links: rename, after checking the target is still free.
        if (await lstatOrUndefined(socketPath)) throw new Error(`address ${display} is already in use by another process`);
        await rename(tempPath, socketPath);
        return;
      }
      throw new Error(`cannot listen on ${display}: ${(err as Error).message}`, { cause: err });
    }
  }
}

async function unlinkIfOurs(socketPath: string, ours: FileId): Promise<void> {
  const st = await lstatOrUndefined(socketPath);
  if (st && st.isSocket() && sameFile(st, ours)) await unlink(socketPath).catch(ignoreCode('ENOENT'));
}

// ---------------------------------------------------------------------------------------
// Shared helpers

function startServer(server: net.Server, listenOptions: net.ListenOptions, display: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(listenError(err, display));
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(listenOptions);
  });
}

function listenError(err: Error, display: string): Error {
  switch (errno(err)) {
    case 'EADDRINUSE':
      return new Error(`address ${display} is already in use`, { cause: err });
    case 'EACCES':
      return new Error(`permission denied listening on ${display} (ports below 1024 need privileges)`, { cause: err });
    case 'EADDRNOTAVAIL':
      return new Error(`address ${display} is not an address of this machine`, { cause: err });
    default:
      return new Error(`cannot listen on ${display}: ${err.message}`, { cause: err });
  }
}

function dispatch(onConnection: ConnectionHandler, socket: net.Socket, client: ClientInfo, logger: Logger): void {
  try {
    onConnection(socket, client);
  } catch (err) {
    // A throwing handler must not take the listener (or the process) down with it.
    logger.error('connection handler failed', { error: (err as Error)?.message ?? String(err) });
    socket.destroy();
  }
}

function watchErrors(server: net.Server, display: string, logger: Logger): void {
  server.on('error', (err) => logger.error('listener error', { address: display, error: err.message }));
}

/**
 * server.close()'s callback waits for every open connection to end; we only want the
 * listening socket gone, which happens synchronously inside close().
 */
function closeServer(server: net.Server): void {
  if (server.listening) server.close();
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let result: Promise<void> | undefined;
  return () => (result ??= fn());
}

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p);
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
}

function sameFile(a: FileId, b: FileId): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function ignoreCode(code: string): (err: unknown) => void {
  return (err) => {
    if (errno(err) !== code) throw err;
  };
}
