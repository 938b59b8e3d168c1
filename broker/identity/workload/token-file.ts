// `type: token-file`: a JWT in a file the platform rotates (a Kubernetes projected
// service-account token, AWS_WEB_IDENTITY_TOKEN_FILE, a CI token written to disk). The
// directory is watched, not the file: Kubernetes rotates by swapping the `..data`
// symlink the token's path goes through, and an editor or `mv` replaces the inode, so a
// watch on the file itself would go quiet after the first rotation.
import { watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { WorkloadIdentity } from '../config.js';
import type { TokenSource } from './token-source.js';

/** Tokens are small; a huge file is a mistake, not a token. */
const MAX_BYTES = 64 * 1024;

export function createTokenFileSource(config: Extract<WorkloadIdentity, { type: 'token-file' }>): TokenSource {
  const path = config.path;
  return {
    origin: path,
    async read(signal) {
      let data: Buffer;
      try {
        data = await readFile(path, { signal });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ABORT_ERR') throw err;
        throw new Error(`cannot read the token file ${path}${code ? ` (${code})` : ''}`);
      }
      if (data.length > MAX_BYTES) throw new Error(`the token file ${path} is larger than ${MAX_BYTES} bytes`);
      const text = data.toString('utf8').trim();
      if (!text) throw new Error(`the token file ${path} is empty`);
      return text;
    },
    watch(onChange, onError) {
      const name = basename(path);
      try {
        const w = watch(dirname(path), { persistent: false }, (_event, file) => {
          // ..data (Kubernetes), the file itself, or an unnamed event: read again; an unchanged token is a no-op.
          if (file === null || file === name || file.startsWith('..')) onChange();
        });
        w.on('error', (err) => onError(`stopped watching ${dirname(path)}: ${err.message}`));
        return () => w.close();
      } catch (err) {
        onError(`cannot watch ${dirname(path)} (${(err as NodeJS.ErrnoException).code ?? 'error'}); the token is read again as it nears expiry`);
        return () => {};
      }
    },
  };
}
