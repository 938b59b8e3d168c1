// The broker process seen from main: forked as an Electron utility process running
// `serve --ui --wait-for-config` with its logs in a 0600 file (nothing on the console:
// from a desktop session that would end up in the journal), or, when a broker is already
// running for this user (`serve --ui` in a terminal), attached to it over its control API
// instead of a second broker competing for ports and control.json.
import { utilityProcess, type UtilityProcess } from 'electron';
import type { BrokerApi, BrokerRunState } from '../broker/api.js';
import { createHttpBrokerApi } from '../broker/control/http-client.js';
import type { FromMain, ToMain } from '../broker/control/parent-port.js';
import { controlFilePath, isAlive, readControlFile } from '../broker/control/runtime-file.js';
import { shouldRestartBroker } from './tray.js';

export interface BrokerHostOptions {
  entry: string;
  args: string[];
  logFile: string;
  stateDir: string;
  /** Console output of the process (crash traces): to main's log, never the terminal. */
  onOutput(chunk: string): void;
  onState(state: BrokerRunState, api: BrokerApi | undefined): void;
}

export interface BrokerHost {
  start(): Promise<void>;
  /** Stop accepting, drain for at most drainMs, exit; SIGTERM after drainMs + 3 s, SIGKILL 2 s later. */
  stop(drainMs: number): Promise<void>;
  resume(): void;
  /** The screen locked or the machine sleeps: the broker locks approvals if its settings say so (not for an attached broker: it is not ours). */
  autoLock(event: 'screen-lock' | 'sleep'): void;
  /** The broker running in a terminal we attached to, if any. */
  attached(): { pid: number; url: string } | undefined;
  running(): boolean;
}

export function createBrokerHost(options: BrokerHostOptions): BrokerHost {
  let child: UtilityProcess | undefined;
  let attachedTo: { pid: number; url: string } | undefined;
  let watchAttached: NodeJS.Timeout | undefined;
  let stopping = false;
  const crashes: number[] = [];

  const send = (m: FromMain): void => child?.postMessage(m);
  const state = (s: BrokerRunState, api?: BrokerApi): void => options.onState(s, api);

  async function attach(): Promise<boolean> {
    const info = readControlFile(controlFilePath(options.stateDir));
    if (!info || !isAlive(info.pid) || info.pid === process.pid) return false;
    const api = createHttpBrokerApi({ baseUrl: info.url, token: info.token });
    try {
      await api.listTargets();
    } catch {
      return false; // a stale file, or not ours to use
    }
    attachedTo = { pid: info.pid, url: info.url };
    state({ state: 'running' }, api);
    // When the terminal's broker goes away, the app runs its own.
    watchAttached = setInterval(() => {
      if (isAlive(info.pid)) return;
      clearInterval(watchAttached);
      attachedTo = undefined;
      state({ state: 'restarting', reason: `the broker that was running (pid ${info.pid}) exited` });
      fork();
    }, 2_000);
    return true;
  }

  function fork(): void {
    state({ state: 'starting' });
    const c = utilityProcess.fork(options.entry, [...options.args, '--wait-for-config', '--log-file', options.logFile], {
      serviceName: 'Secretless broker',
      stdio: 'pipe',
      // As bin/secretless-desktop.js: a small young generation keeps idle connections cheap.
      execArgv: ['--max-semi-space-size=2'],
    });
    child = c;
    c.stdout?.on('data', (d: Buffer) => options.onOutput(d.toString()));
    c.stderr?.on('data', (d: Buffer) => options.onOutput(d.toString()));
    c.on('message', (m: ToMain) => {
      if (m?.type === 'control-ready') state({ state: 'running' }, createHttpBrokerApi({ baseUrl: m.url, token: m.token }));
      else if (m?.type === 'broker-state' && m.status.state === 'config-error') state(m.status);
      else if (m?.type === 'broker-state' && m.status.state === 'running') state(m.status);
    });
    c.on('exit', (code) => {
      if (child === c) child = undefined;
      if (stopping) return state({ state: 'stopped' });
      const now = Date.now();
      crashes.push(now);
      if (!shouldRestartBroker(crashes, now)) return state({ state: 'stopped' });
      state({ state: 'restarting', reason: `the broker exited with code ${code}; open connections were closed` });
      fork();
    });
  }

  return {
    async start() {
      stopping = false;
      if (child || attachedTo) return;
      if (!(await attach())) fork();
    },
    async stop(drainMs) {
      stopping = true;
      clearInterval(watchAttached);
      if (attachedTo) {
        attachedTo = undefined; // not ours to stop
        return state({ state: 'stopped' });
      }
      const c = child;
      if (!c) return;
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      send({ type: 'stop', drainMs });
      // SIGTERM after the drain bound, then SIGKILL: a wedged broker (or one stopped by a
      // debugger) ignores both the message and SIGTERM, and must not hold the app's quit.
      let hardKill: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        c.kill();
        hardKill = setTimeout(() => killHard(c.pid), 2_000);
      }, drainMs + 3_000);
      await exited;
      clearTimeout(timer);
      clearTimeout(hardKill);
    },
    resume: () => send({ type: 'resume' }),
    autoLock: (event) => send({ type: 'auto-lock', event }),
    attached: () => attachedTo,
    running: () => !!child || !!attachedTo,
  };
}

function killHard(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
