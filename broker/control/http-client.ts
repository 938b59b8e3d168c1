// BrokerApi over the control API, for the browser renderer and the CLI alike: plain
// fetch, no Node or DOM specifics. Events are read from the server-sent-events stream
// with fetch rather than EventSource, because EventSource cannot send the bearer token
// in a header (and a token in a URL ends up in logs and history).
import { ApiError } from '../api-error.js';
import type { ApiErrorBody, BrokerApi, BrokerEvent } from '../api.js';

export interface HttpClientOptions {
  /** http://127.0.0.1:PORT */
  baseUrl: string;
  token: string;
  fetch?: typeof fetch;
  /** Told when the event stream drops or comes back (the client reconnects by itself). */
  onConnection?: (state: 'connected' | 'reconnecting') => void;
  reconnectMs?: number;
}

export function createHttpBrokerApi(options: HttpClientOptions): BrokerApi {
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const headers = { Authorization: `Bearer ${options.token}` };

  async function call<T>(method: string, args: unknown[]): Promise<T> {
    const res = await doFetch(`${options.baseUrl}/api/call/${method}`, {
      method: 'POST',
      headers: { ...headers, 'Content-Type': 'application/json' },
      body: JSON.stringify({ args }),
    });
    const body = (await res.json().catch(() => ({}))) as { result?: T } & Partial<ApiErrorBody>;
    if (!res.ok) throw new ApiError(res.status, body.error ?? `HTTP ${res.status}`, body);
    return body.result as T;
  }

  return {
    listTargets: () => call('listTargets', []),
    startTarget: (name) => call('startTarget', [name]),
    stopTarget: (name) => call('stopTarget', [name]),
    saveTarget: (input) => call('saveTarget', [input]),
    getTarget: (name) => call('getTarget', [name]),
    deleteTarget: (name, opts) => call('deleteTarget', opts === undefined ? [name] : [name, opts]),
    testTarget: (name) => call('testTarget', [name]),
    connectorTemplates: () => call('connectorTemplates', []),
    brokerInfo: () => call('brokerInfo', []),
    listSessions: () => call('listSessions', []),
    login: (identity) => call('login', [identity]),
    logout: (identity) => call('logout', [identity]),
    recentAudit: (query) => call('recentAudit', query === undefined ? [] : [query]),
    listApprovals: () => call('listApprovals', []),
    answerApproval: (id, answer, by) => call('answerApproval', by === undefined ? [id, answer] : [id, answer, by]),
    lock: (opts) => call('lock', opts === undefined ? [] : [opts]),
    unlock: (opts) => call('unlock', opts === undefined ? [] : [opts]),
    lockState: () => call('lockState', []),
    subscribe(listener) {
      const controller = new AbortController();
      void streamEvents(options, doFetch, headers, listener, controller.signal);
      return () => controller.abort();
    },
  };
}

async function streamEvents(
  options: HttpClientOptions,
  doFetch: typeof fetch,
  headers: Record<string, string>,
  listener: (event: BrokerEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    try {
      const res = await doFetch(`${options.baseUrl}/api/events`, { headers, signal });
      if (!res.ok || !res.body) throw new ApiError(res.status, `event stream refused: HTTP ${res.status}`);
      options.onConnection?.('connected');
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trimStart())
            .join('\n');
          if (data) listener(JSON.parse(data) as BrokerEvent);
        }
      }
    } catch {
      // Dropped or refused: fall through and retry until unsubscribed.
    }
    if (signal.aborted) return;
    options.onConnection?.('reconnecting');
    await new Promise((r) => setTimeout(r, options.reconnectMs ?? 1000));
  }
}
