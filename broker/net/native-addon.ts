// Loads one of the broker's optional native modules (Linux; their C sources are in
// broker/native/, built by scripts/build-native.sh into dist/broker/native/NAME.node).
// Every caller has a JS fallback, so a module that is not there is a reason to log,
// never an error.
import { createRequire } from 'node:module';

export type Addon<T> = { module: T } | { module: null; reason: string };

export function loadAddon<T>(name: 'pump' | 'sock-diag'): Addon<T> {
  if (process.platform !== 'linux') return { module: null, reason: 'not Linux' };
  if (process.env.SECRETLESS_NATIVE === '0') return { module: null, reason: 'SECRETLESS_NATIVE=0' };
  try {
    return { module: createRequire(import.meta.url)(`../native/${name}.node`) as T };
  } catch (err) {
    return { module: null, reason: (err as Error).message.split('\n')[0]! };
  }
}
