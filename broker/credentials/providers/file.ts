// `file`: the id is a path; the file's content is the value. Read fresh on every get()
// so replacing the file rotates the credential without a restart. `~` and `~/...`
// expand to the home directory; relative paths resolve against baseDir (default: the
// broker's working directory, as in Secretless).
//
// Trailing newline: exactly one trailing "\n" (or "\r\n") is stripped. Editors and
// `echo` add one, and a password that really ends in a newline is rare enough that
// users expect the stripped form; any other whitespace is kept as is.
//
// Only regular files are read, at most FILE_SIZE_LIMIT bytes, within FILE_READ_TIMEOUT_MS.
// The file is opened non-blocking: opening a FIFO for reading otherwise waits for a writer
// inside one of libuv's four pool threads, and four such services stalled every other
// file read (and DNS lookups) of the broker. /dev/zero grew the broker to 6.7 GB.
import { constants, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { ProviderError, type Provider, type SecretValue } from '../types.js';

/** Credential files are passwords, keys and tokens: a few KB at most. */
export const FILE_SIZE_LIMIT = 64 * 1024;
export const FILE_READ_TIMEOUT_MS = 5_000;

export interface FileProviderOptions {
  /** Directory relative paths resolve against. Default: process.cwd() at call time. */
  baseDir?: string;
  /** Home directory for `~`. Default: os.homedir(). */
  homedir?: () => string;
}

export function createFileProvider(options: FileProviderOptions = {}): Provider {
  const name = 'file';
  const home = options.homedir ?? homedir;
  const pathOf = (id: string): string => expandPath(id, home, options.baseDir ?? process.cwd());

  const readOne = async (id: string, signal: AbortSignal): Promise<SecretValue> => {
    if (signal.aborted) throw new ProviderError(name, id, 'aborted');
    const timeout = AbortSignal.timeout(FILE_READ_TIMEOUT_MS);
    try {
      return { value: stripOneNewline(await readLimited(pathOf(id), AbortSignal.any([signal, timeout]))) };
    } catch (err) {
      const reason = timeout.aborted && !signal.aborted ? `no answer within ${FILE_READ_TIMEOUT_MS / 1000} s` : describeReadError(err);
      throw new ProviderError(name, id, reason, { cause: err });
    }
  };

  return {
    name,
    async get(ids, { signal }) {
      const values = await Promise.all(ids.map((id) => readOne(id, signal)));
      return new Map(ids.map((id, i) => [id, values[i]!]));
    },
  };
}

class FileRefused extends Error {}

/** Each step gives up when the signal fires; a read still running then closes the file when it ends. */
async function readLimited(path: string, signal: AbortSignal): Promise<Buffer> {
  const fh = await untilAborted(open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0)), signal, (f) => f.close());
  const reading = (async () => {
    const stat = await fh.stat();
    if (stat.isDirectory()) throw new FileRefused('is a directory, not a file');
    if (!stat.isFile()) throw new FileRefused(`not a regular file (${kindOf(stat)}); only regular files are read`);
    if (stat.size > FILE_SIZE_LIMIT) throw tooLarge();
    const buffer = Buffer.alloc(FILE_SIZE_LIMIT + 1);
    let length = 0;
    for (;;) {
      signal.throwIfAborted();
      const { bytesRead } = await fh.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      // The size can lie (/proc files say 0) or grow while we read.
      if (length > FILE_SIZE_LIMIT) throw tooLarge();
    }
    return Buffer.from(buffer.subarray(0, length));
  })();
  void reading.finally(() => fh.close()).catch(() => {});
  return untilAborted(reading, signal);
}

function tooLarge(): FileRefused {
  return new FileRefused(`larger than the ${FILE_SIZE_LIMIT / 1024} KiB limit for a credential file`);
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal, discard?: (late: T) => unknown): Promise<T> {
  if (signal.aborted) {
    if (discard) void work.then(discard, () => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      if (discard) void work.then(discard, () => {});
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e) => (signal.removeEventListener('abort', onAbort), reject(e)),
    );
  });
}

function kindOf(stat: Stats): string {
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a file';
}

export function expandPath(id: string, home: () => string, baseDir: string): string {
  if (id === '~') return home();
  if (id.startsWith('~/')) return join(home(), id.slice(2));
  return isAbsolute(id) ? id : resolve(baseDir, id);
}

function stripOneNewline(content: Buffer): Buffer {
  const n = content.length;
  if (n >= 2 && content[n - 2] === 0x0d && content[n - 1] === 0x0a) return content.subarray(0, n - 2);
  if (n >= 1 && content[n - 1] === 0x0a) return content.subarray(0, n - 1);
  return content;
}

// Reasons come from error codes only: never echo anything read from the file.
function describeReadError(err: unknown): string {
  if (err instanceof FileRefused) return err.message;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if ((err as Error | undefined)?.name === 'AbortError' || code === 'ABORT_ERR') return 'aborted';
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory, not a file';
    case 'ENOTDIR':
      return 'a parent of the path is not a directory';
    default:
      return `could not read the file (${code ?? 'unknown error'})`;
  }
}
