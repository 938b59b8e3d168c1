// The one banner about the broker itself: unreachable (reconnecting), restarted,
// starting (Electron), the page's access revoked, or a config reload that was rejected.
// A rejected config stays until a later load succeeds; the rest clear themselves.
import type { AuditRecord } from '../../broker/audit/types.js';

export type Banner =
  | { type: 'none' }
  | { type: 'reconnecting' }
  | { type: 'starting' }
  /** Electron: the broker process is being restarted (it crashed or its settings changed). */
  | { type: 'restarting'; reason?: string }
  | { type: 'stopped' }
  | { type: 'restarted'; at: string }
  | { type: 'unauthorized' }
  | { type: 'config-error'; reason: string };

/** What the page learns, from the event stream, the audit feed, or the Electron shell. */
export type BannerInput =
  | { type: 'stream-lost' }
  | { type: 'stream-back'; restarted: boolean; at: string }
  | { type: 'unauthorized' }
  | { type: 'audit'; record: AuditRecord }
  /** The audit history as (re)loaded, newest first. */
  | { type: 'history'; records: readonly AuditRecord[] }
  /** The broker's own word on the config (brokerInfo, config.rejected / config.applied events). */
  | { type: 'config'; reason?: string }
  | { type: 'shell'; state: 'starting' | 'running' | 'restarting' | 'config-error' | 'stopped'; reason?: string }
  | { type: 'dismiss' };

export interface BannerState {
  /** The transient banner (connection / restart). */
  link: Banner;
  /** A rejected config, independent of the link: both can be shown. */
  config?: string;
}

export const INITIAL_BANNER: BannerState = { link: { type: 'none' } };

export function bannerReducer(s: BannerState, input: BannerInput): BannerState {
  switch (input.type) {
    case 'stream-lost':
      return s.link.type === 'unauthorized' ? s : { ...s, link: { type: 'reconnecting' } };
    case 'stream-back':
      return { ...s, link: input.restarted ? { type: 'restarted', at: input.at } : { type: 'none' } };
    case 'unauthorized':
      return { ...s, link: { type: 'unauthorized' } };
    case 'audit':
      if (input.record.type === 'config.rejected') return { ...s, config: input.record.reason };
      if (input.record.type === 'config.loaded') return { ...s, config: undefined };
      return s;
    case 'config':
      return { ...s, config: input.reason };
    case 'history':
      return { ...s, config: configFromHistory(input.records) };
    case 'shell':
      if (input.state === 'config-error') return { ...s, config: input.reason ?? 'the config was rejected' };
      if (input.state === 'running') {
        const wasDown = s.link.type === 'starting' || s.link.type === 'reconnecting' || s.link.type === 'restarting' || s.link.type === 'stopped';
        return { ...s, config: undefined, link: wasDown ? { type: 'restarted', at: new Date().toISOString() } : s.link };
      }
      if (input.state === 'restarting') return { ...s, link: { type: 'restarting', ...(input.reason ? { reason: input.reason } : {}) } };
      return { ...s, link: { type: input.state } };
    case 'dismiss':
      return { ...s, link: { type: 'none' } };
  }
}

/** The config state from history (newest first): a rejection newer than the last load. */
export function configFromHistory(records: readonly AuditRecord[]): string | undefined {
  for (const r of records) {
    if (r.type === 'config.loaded') return undefined;
    if (r.type === 'config.rejected') return r.reason;
  }
  return undefined;
}
