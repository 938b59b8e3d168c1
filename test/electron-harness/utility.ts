// utilityProcess.fork as a real child process (node) running the real module main.js
// gives it, with process.parentPort installed before that module loads (parent-port.ts):
// postMessage on either side arrives as Electron delivers it ('message' with the value
// in the parent, a MessageEvent-like { data } in the child). Exit codes and stdio
// ('inherit' or 'pipe') behave as in Electron.
import type * as E from 'electron';
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { HarnessState } from './state.js';

const SHIM = new URL('./parent-port.js', import.meta.url).href;

type UtilitySurface = Pick<E.UtilityProcess, 'postMessage' | 'kill' | 'pid'>;

export interface HarnessUtility extends UtilitySurface, EventEmitter {
  modulePath: string;
  args: string[];
  options: E.ForkOptions;
  stdout: Readable | null;
  stderr: Readable | null;
  child: ChildProcess;
  /** Everything the child printed when stdio is 'pipe' and nobody read it (for the secret checks). */
  exited: Promise<number>;
}

export function forkUtility(modulePath: string, args: string[], options: E.ForkOptions, s: HarnessState): HarnessUtility {
  const stdio = options.stdio === 'inherit' ? 'inherit' : options.stdio === 'ignore' ? 'ignore' : 'pipe';
  const child = fork(modulePath, args, {
    execArgv: [...(options.execArgv ?? []), '--import', SHIM],
    env: (options.env ?? process.env) as NodeJS.ProcessEnv,
    cwd: options.cwd,
    stdio: [stdio === 'pipe' ? 'ignore' : stdio, stdio, stdio, 'ipc'],
    serialization: 'advanced',
  });
  const u = Object.assign(new EventEmitter(), {
    modulePath,
    args,
    options,
    child,
    stdout: child.stdout,
    stderr: child.stderr,
    get pid() {
      return child.exitCode === null && child.signalCode === null ? child.pid : undefined;
    },
    postMessage(message: unknown) {
      if (child.connected) child.send(message as never);
    },
    kill() {
      return child.kill('SIGTERM');
    },
    exited: new Promise<number>((resolve) =>
      child.once('exit', (code, signal) => {
        // Electron reports a signal death as a non-zero code.
        const c = code ?? (signal ? 128 + 15 : 0);
        resolve(c);
        u.emit('exit', c);
      }),
    ),
  }) as unknown as HarnessUtility;
  child.once('spawn', () => u.emit('spawn'));
  child.on('message', (m) => u.emit('message', m));
  child.on('error', (err) => u.emit('error', 'FatalError', err.message));
  s.utilities.push(u);
  return u;
}
