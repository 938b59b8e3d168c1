// A per-service cap on target logins in progress: each one may cost a credential fetch
// and holds a target connection slot until it completes, so a burst of local clients
// must not turn into as many logins at the target.
import { BrokerError } from '../errors.js';

export interface LoginLimit {
  /** Takes a slot, or throws too_many_connections; call the returned function once the login is over. */
  acquire(): () => void;
  readonly active: number;
}

export function createLoginLimit(service: string, max: number): LoginLimit {
  let active = 0;
  return {
    acquire() {
      if (active >= max)
        throw new BrokerError('too_many_connections', `service '${service}' has ${max} logins in progress, its limit (config maxConcurrentLogins); try again`);
      active++;
      let released = false;
      return () => {
        if (!released) active--;
        released = true;
      };
    },
    get active() {
      return active;
    },
  };
}
