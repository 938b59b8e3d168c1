// The agent's keys, from the service's credentials: every credential is a private key
// except `<name>Passphrase`, the passphrase of key `<name>`. Keys are parsed per agent
// connection (providers are asked each time), so a rotated key is served from the next
// connection on; the resolver audits the change once as credential.rotated.
import type { ServiceConfig } from '../../config/types.js';
import type { ResolvedCredentials } from '../../credentials/types.js';
import type { Logger } from '../../log.js';
import { parsePrivateKey, SshKeyError, type SshPrivateKey } from '../../ssh/keys.js';

export const PASSPHRASE_SUFFIX = 'Passphrase';

export interface AgentKey {
  name: string;
  key: SshPrivateKey;
}

export function keyNames(service: ServiceConfig): string[] {
  return Object.keys(service.credentials).filter((n) => !(n.endsWith(PASSPHRASE_SUFFIX) && n.length > PASSPHRASE_SUFFIX.length));
}

export interface Keyring {
  /** Parses the keys of one resolved group; unusable keys are logged and skipped. */
  load(creds: ResolvedCredentials, log: Logger): AgentKey[];
}

export function createKeyring(service: ServiceConfig): Keyring {
  const names = keyNames(service);
  return {
    load(creds, log) {
      const keys: AgentKey[] = [];
      for (const name of names) {
        const value = creds.values.get(name);
        if (!value) continue;
        const passphrase = creds.values.get(`${name}${PASSPHRASE_SUFFIX}`);
        try {
          keys.push({ name, key: parsePrivateKey(value, passphrase?.length ? passphrase : undefined, `key '${name}'`) });
        } catch (err) {
          if (!(err instanceof SshKeyError)) throw err;
          log.warn('ssh-agent key unusable, not served', { key: name, reason: err.message });
        }
      }
      return keys;
    },
  };
}
