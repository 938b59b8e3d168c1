// The tray, as data: its state (idle / active / attention), tooltip and menu. Plain
// functions of the broker's targets and sessions, so tests run them without Electron;
// main.ts turns the menu description into an Electron Menu.
import type { BrokerRunState, IdentitySessionInfo, TargetInfo } from '../broker/api.js';
import { connectionStrings } from '../broker/connection-strings.js';
import { healthText, isUnhealthy } from '../broker/health.js';

export type TrayState = 'idle' | 'active' | 'attention';

export type TrayAction =
  | { type: 'start'; name: string }
  | { type: 'stop'; name: string }
  | { type: 'copy'; text: string }
  | { type: 'open-window' }
  | { type: 'set-start-at-login'; enabled: boolean }
  | { type: 'open-logs' }
  | { type: 'show'; target?: string; identity?: string }
  | { type: 'install-update' }
  | { type: 'lock' }
  | { type: 'unlock' }
  | { type: 'quit' };

export type TrayMenuItem =
  | { kind: 'separator' }
  | { kind: 'label'; label: string }
  | { kind: 'action'; label: string; action: TrayAction; enabled: boolean }
  | { kind: 'toggle'; label: string; checked: boolean; action: TrayAction; enabled: boolean }
  | { kind: 'submenu'; label: string; items: TrayMenuItem[] };

export interface TrayInput {
  targets: TargetInfo[];
  sessions: IdentitySessionInfo[];
  startAtLogin: boolean;
  /** False while the broker is (re)starting: target items are disabled. */
  brokerUp: boolean;
  now: number;
  /** Why the broker is not up (shown as the first line instead of the counts). */
  brokerState?: BrokerRunState;
  /** Notifications the OS could not show (unsupported): kept here until clicked. */
  unseen?: { title: string; action: TrayAction }[];
  /** A downloaded update, by version. */
  updateReady?: string;
  /** The broker is locked: every new connection asks (approvals). */
  locked?: boolean;
  /** Programs waiting for an approval. */
  approvalsWaiting?: number;
}

const expired = (iso: string | undefined, now: number): boolean => iso !== undefined && Date.parse(iso) <= now;

/** attention: something needs the user (a failed target, an expired credential, a session to log in to). */
export function trayState(input: Pick<TrayInput, 'targets' | 'sessions' | 'brokerUp' | 'now' | 'brokerState'>): TrayState {
  const { targets, sessions, now } = input;
  if (!input.brokerUp || input.brokerState?.state === 'config-error') return 'attention';
  // Health, not just the listener: a listening target whose logins fail needs the user too.
  if (targets.some((t) => t.status.state === 'error' || isUnhealthy(t.health))) return 'attention';
  if (sessions.some((s) => s.state === 'refresh-failed' || s.state === 'login-needed' || expired(s.expiresAt, now))) return 'attention';
  if (targets.some((t) => t.status.state === 'listening' && expired(t.credentialExpiresAt, now))) return 'attention';
  return targets.some((t) => t.status.state === 'listening') ? 'active' : 'idle';
}

export function trayTooltip(input: Pick<TrayInput, 'targets' | 'sessions' | 'brokerUp' | 'now' | 'brokerState'>): string {
  const st = input.brokerState;
  // A rejected reload leaves the broker running the previous config: still say so.
  if (st?.state === 'config-error') return `Secretless Desktop: config error (${st.line ? `line ${st.line}` : 'see the window'})`;
  if (!input.brokerUp) {
    if (st?.state === 'starting') return 'Secretless Desktop: broker starting';
    if (st?.state === 'stopped') return 'Secretless Desktop: broker stopped';
    return 'Secretless Desktop: broker restarting';
  }
  const running = input.targets.filter((t) => t.status.state === 'listening').length;
  const failing = input.targets.filter((t) => t.status.state === 'error' || isUnhealthy(t.health));
  const parts = [`${running} of ${input.targets.length} running`];
  if (failing.length) parts.push(`${failing.length} failing: ${failing.map((t) => `${t.name} (${problemOf(t)})`).join(', ')}`);
  return `Secretless Desktop: ${parts.join(', ')}`;
}

/** What is wrong with a target, in a few words (`credentials rejected`, `unreachable`). */
function problemOf(t: TargetInfo): string {
  return t.status.state === 'error' ? 'failed' : t.health.type.replace('-', ' ');
}

function targetLabel(t: TargetInfo): string {
  switch (t.status.state) {
    case 'listening':
      if (isUnhealthy(t.health)) return `${t.name}: ${problemOf(t)}`;
      return t.connections > 0 ? `${t.name}: ${t.connections} connection${t.connections === 1 ? '' : 's'}` : `${t.name}: running`;
    case 'stopped':
      return `${t.name}: stopped`;
    case 'error':
      return `${t.name}: failed`;
  }
}

export function buildTrayMenu(input: TrayInput): TrayMenuItem[] {
  const items: TrayMenuItem[] = [{ kind: 'label', label: trayTooltip(input) }];
  if (input.brokerState?.state === 'config-error') items.push({ kind: 'action', label: `Config error: ${input.brokerState.reason}`.slice(0, 120), enabled: true, action: { type: 'show' } });
  for (const u of input.unseen ?? []) items.push({ kind: 'action', label: u.title, enabled: true, action: u.action });
  if (input.approvalsWaiting) items.push({ kind: 'action', label: `${input.approvalsWaiting} program${input.approvalsWaiting === 1 ? '' : 's'} waiting for your approval…`, enabled: true, action: { type: 'open-window' } });
  if (input.updateReady) items.push({ kind: 'action', label: `Restart to update to ${input.updateReady}`, enabled: true, action: { type: 'install-update' } });
  items.push({ kind: 'separator' });
  if (input.targets.length === 0) items.push({ kind: 'label', label: 'No targets configured' });
  for (const t of input.targets) {
    const running = t.status.state === 'listening';
    const strings = connectionStrings(t);
    const sub: TrayMenuItem[] = [
      {
        kind: 'toggle',
        label: running ? 'Running' : 'Start',
        checked: running,
        enabled: input.brokerUp,
        action: running ? { type: 'stop', name: t.name } : { type: 'start', name: t.name },
      },
      ...(strings.length
        ? strings.map((s): TrayMenuItem => ({ kind: 'action', label: `Copy ${s.label}`, enabled: true, action: { type: 'copy', text: s.value } }))
        : [{ kind: 'action', label: 'Copy connection string', enabled: false, action: { type: 'copy', text: '' } } as TrayMenuItem]),
    ];
    if (t.status.state === 'error') sub.unshift({ kind: 'label', label: `Error: ${t.status.reason}` });
    else if (isUnhealthy(t.health)) sub.unshift({ kind: 'label', label: healthText(t.health, input.now) });
    items.push({ kind: 'submenu', label: targetLabel(t), items: sub });
  }
  items.push(
    { kind: 'separator' },
    { kind: 'action', label: 'Open window', enabled: true, action: { type: 'open-window' } },
    input.locked
      ? { kind: 'action', label: 'Unlock', enabled: input.brokerUp, action: { type: 'unlock' } }
      : { kind: 'action', label: 'Lock (every new connection asks)', enabled: input.brokerUp, action: { type: 'lock' } },
    { kind: 'action', label: 'Open logs', enabled: true, action: { type: 'open-logs' } },
    { kind: 'toggle', label: 'Start at login', checked: input.startAtLogin, enabled: true, action: { type: 'set-start-at-login', enabled: !input.startAtLogin } },
    { kind: 'separator' },
    { kind: 'action', label: 'Quit', enabled: true, action: { type: 'quit' } },
  );
  return items;
}

/** Broker restarts after a crash: allowed while there were fewer than `max` in the last `windowMs`. */
export function shouldRestartBroker(crashTimes: number[], now: number, max = 5, windowMs = 60_000): boolean {
  return crashTimes.filter((t) => now - t < windowMs).length < max;
}

/**
 * A stable text of the menu's content: main rebuilds the native menu only when this
 * changes (rebuilding closes a menu the user has open on Linux and Windows).
 */
export function menuKey(items: TrayMenuItem[]): string {
  return JSON.stringify(items);
}
