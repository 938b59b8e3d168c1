// The IPC relay: one ipcMain handler per BrokerApi method (arguments re-checked with the
// control API's validator, calls only from our window's own page), and the event stream
// to the windows that subscribed: broker events plus the broker's own state.
import { ipcMain, type IpcMainEvent, type IpcMainInvokeEvent, type WebContents } from 'electron';
import type { BrokerApi, BrokerEvent, BrokerRunState, LoginStart } from '../broker/api.js';
import { CALL_METHODS, validateArgs } from '../broker/control/validate.js';

export interface IpcRelayOptions {
  isOurs(sender: WebContents, frameUrl: string | undefined): boolean;
  api(): BrokerApi | undefined;
  /** The API once the broker is up, if that happens within the wait; undefined otherwise. */
  whenUp(waitMs: number): Promise<BrokerApi | undefined>;
  state(): BrokerRunState;
  /** Login pages the broker returned: the window may open them in the browser. */
  onLoginUrl(url: string): void;
  /** A page started listening: events it should get first (e.g. the target a notification opened it at). */
  initialEvents(): BrokerEvent[];
}

export interface IpcRelay {
  forward(event: BrokerEvent): void;
}

/** Why a call cannot reach the broker now, in words for the window. */
export function unavailable(state: BrokerRunState): string {
  switch (state.state) {
    case 'config-error':
      return `the config has an error (${state.reason}); fix ${state.file} and the broker starts`;
    case 'stopped':
      return 'the broker is stopped';
    case 'restarting':
      return 'the broker is restarting; try again in a moment';
    default:
      return 'the broker is starting; try again in a moment';
  }
}

const STARTUP_WAIT_MS = 15_000;

export function createIpcRelay(options: IpcRelayOptions): IpcRelay {
  const subscribers = new Set<WebContents>();
  const ours = (event: IpcMainInvokeEvent | IpcMainEvent): boolean => options.isOurs(event.sender, event.senderFrame?.url);

  for (const method of CALL_METHODS) {
    ipcMain.handle(`secretless:${method}`, async (event, ...args: unknown[]) => {
      if (!ours(event)) throw new Error('refused: not the Secretless window');
      // A page loaded while the broker starts (or restarts) waits for it rather than failing.
      const starting = (): boolean => ['starting', 'restarting'].includes(options.state().state);
      const api = options.api() ?? (starting() ? await options.whenUp(STARTUP_WAIT_MS) : undefined);
      if (!api) throw new Error(unavailable(options.state()));
      const checked = validateArgs(method, args);
      const fn = api[method] as (...a: unknown[]) => Promise<unknown>;
      const result = await fn.apply(api, checked);
      if (method === 'login') {
        const start = result as LoginStart;
        const url = start.flow === 'authorization_code' ? start.url : start.verificationUriComplete ?? start.verificationUri;
        options.onLoginUrl(url);
      }
      return result;
    });
  }
  ipcMain.on('secretless:subscribe', (event) => {
    if (!ours(event)) return;
    const wc = event.sender;
    subscribers.add(wc);
    wc.once('destroyed', () => subscribers.delete(wc));
    // A page (re)loaded while the broker was down learns its state at once.
    wc.send('secretless:event', { type: 'broker.state', status: options.state() } satisfies BrokerEvent);
    for (const e of options.initialEvents()) wc.send('secretless:event', e);
  });
  ipcMain.on('secretless:unsubscribe', (event) => void subscribers.delete(event.sender));

  return {
    forward(event) {
      for (const wc of subscribers) if (!wc.isDestroyed()) wc.send('secretless:event', event);
    },
  };
}
