// `file`: the id is a path; the file's content is the value. Read fresh on every get()
// so replacing the file rotates the credential without a restart. `~` and `~/...`
// expand to the home directory; relative paths resolve against baseDir (default: the
// broker's working directory, as in Secretless).
//
// Trailing newline: exactly one trailing "\n" (or "\r\n") is stripped. Editors and
// `echo` add one, and a password that really ends in a newline is rare enough that
// users expect the stripped form; any other whitespace is kept as is.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { ProviderError, type Provider, type SecretValue } from '../types.js';

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
    try {
      return { value: stripOneNewline(await readFile(pathOf(id), { signal })) };
    } catch (err) {
      throw new ProviderError(name, id, describeReadError(err), { cause: err });
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
