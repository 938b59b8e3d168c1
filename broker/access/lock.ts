// Lock: a state the user (or the desktop, when the screen locks or the machine sleeps, or
// the broker after an idle time) puts the broker in. While locked every new connection
// asks, whatever the service's `approval:`; locking also revokes every grant (approvals.ts
// does that part). Automatic locks follow settings.lockOnScreenLock / lockOnSleep, which
// default to on when some service asks for approval and off otherwise (a broker nobody
// asked to prompt should not start prompting after a screen lock), and lockAfterIdleMs.
import type { LockState } from '../api.js';
import type { BrokerConfig } from '../config/types.js';
import { defaultBrokerSettings, type BrokerSettings } from '../config/broker-settings.js';

export type AutoLockEvent = 'screen-lock' | 'sleep';

/** Parsed once: approvals read the settings several times per connection. */
let defaults: Readonly<BrokerSettings> | undefined;

export function settingsOf(config: BrokerConfig): Readonly<BrokerSettings> {
  return config.settings ?? (defaults ??= Object.freeze(defaultBrokerSettings()));
}

/** Whether the config has a service that asks (its own approval:, else the default). */
export function anyServiceAsks(config: BrokerConfig): boolean {
  const fallback = settingsOf(config).approval;
  return config.services.some((s) => (s.approval ?? fallback) === 'ask');
}

/** Whether the desktop event should lock the broker under this config. */
export function autoLocks(event: AutoLockEvent, config: BrokerConfig): boolean {
  const s = settingsOf(config);
  const setting = event === 'screen-lock' ? s.lockOnScreenLock : s.lockOnSleep;
  return setting ?? anyServiceAsks(config);
}

export interface LockSwitch {
  state(): LockState;
  /** false when it was already in that state. */
  set(locked: boolean, reason?: string): boolean;
}

export function createLockSwitch(): LockSwitch {
  let current: LockState = { locked: false };
  return {
    state: () => ({ ...current }),
    set(locked, reason) {
      if (current.locked === locked) return false;
      current = locked ? { locked, since: new Date().toISOString(), ...(reason ? { reason } : {}) } : { locked };
      return true;
    },
  };
}

/**
 * Calls onIdle once touch() was not called for idleMs(); rearm() after a config change.
 * touch() only notes the time (it runs per connection): the timer checks it when it fires.
 */
export function createIdleTimer(idleMs: () => number | undefined, onIdle: () => void): { touch(): void; rearm(): void; stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let last = Date.now();
  const arm = (delay: number): void => {
    clearTimeout(timer);
    timer = setTimeout(fire, delay);
    timer.unref();
  };
  const fire = (): void => {
    timer = undefined;
    const ms = idleMs();
    if (ms === undefined) return;
    const left = last + ms - Date.now();
    if (left > 0) return arm(left);
    onIdle();
  };
  return {
    touch() {
      last = Date.now();
      if (!timer && idleMs() !== undefined) arm(idleMs()!);
    },
    rearm() {
      clearTimeout(timer);
      timer = undefined;
      const ms = idleMs();
      if (ms !== undefined) arm(Math.max(0, last + ms - Date.now()));
    },
    stop: () => clearTimeout(timer),
  };
}
