// The renderer's one way to the broker: window.secretless (the Electron preload bridge)
// when present, otherwise the control API over HTTP with the token from the page URL.
import type { BrokerApi } from '../../broker/api.js';
import { createHttpBrokerApi } from '../../broker/control/http-client.js';

declare global {
  interface Window {
    secretless?: BrokerApi;
  }
}

const TOKEN_KEY = 'secretless-desktop-token';

export type Connection = { ok: true; api: BrokerApi; kind: 'electron' | 'http' } | { ok: false; reason: string };

/**
 * Takes the token out of the address bar (#token=…) into sessionStorage, so it is not
 * left in history, bookmarks or screenshots, and survives a reload of this tab only.
 */
export function takeToken(loc: Location, storage: Storage, history: History): string | undefined {
  const m = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(loc.hash);
  if (m) {
    storage.setItem(TOKEN_KEY, m[1]!);
    history.replaceState(null, '', loc.pathname + loc.search);
    return m[1];
  }
  return storage.getItem(TOKEN_KEY) ?? undefined;
}

export function connect(onStream?: (state: 'connected' | 'reconnecting') => void): Connection {
  if (window.secretless) return { ok: true, api: window.secretless, kind: 'electron' };
  const token = takeToken(window.location, window.sessionStorage, window.history);
  if (!token) {
    return { ok: false, reason: 'No access token. Open the URL that `secretless-desktop serve --ui` printed (it ends in #token=…).' };
  }
  return { ok: true, kind: 'http', api: createHttpBrokerApi({ baseUrl: window.location.origin, token, onConnection: onStream }) };
}
