// The loopback redirect receiver of RFC 8252 section 7.3: an HTTP server on 127.0.0.1
// (never 0.0.0.0) with a random port, one path, one request that counts. It answers the
// browser with a short page and hands the full callback URL to the caller, who checks
// state, PKCE and the code with openid-client.
import { createServer, type Server } from 'node:http';
import { spawn } from 'node:child_process';

export interface LoopbackReceiver {
  /** http://127.0.0.1:PORT/callback */
  redirectUri: string;
  /** Resolves with the URL the provider redirected to; rejects on abort or timeout. */
  callback: Promise<URL>;
  close(): void;
}

export async function startLoopbackReceiver(options: { port?: number; signal?: AbortSignal; timeoutMs?: number } = {}): Promise<LoopbackReceiver> {
  const path = '/callback';
  let settle!: { resolve: (u: URL) => void; reject: (e: Error) => void };
  const callback = new Promise<URL>((resolve, reject) => (settle = { resolve, reject }));
  callback.catch(() => {});
  let done = false;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1`);
    if (req.method !== 'GET' || url.pathname !== path || done) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    done = true;
    const failed = url.searchParams.has('error');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(
      `<!doctype html><meta charset="utf-8"><title>Secretless Desktop</title>` +
        `<p>${failed ? 'Login was not completed. You can close this tab.' : 'Login received. You can close this tab and return to Secretless Desktop.'}</p>`,
    );
    settle.resolve(new URL(`${redirectUri}${url.search}`));
    close();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: options.port ?? 0 }, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const redirectUri = `http://127.0.0.1:${port}${path}`;
  const timer = setTimeout(() => fail(new Error('no login arrived at the loopback redirect in time')), options.timeoutMs ?? 10 * 60_000);
  timer.unref();
  const onAbort = () => fail(new Error('the login was cancelled'));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  function fail(err: Error): void {
    settle.reject(err);
    close();
  }
  function close(): void {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    server.closeAllConnections?.();
    server.close();
  }
  return { redirectUri, callback, close: () => fail(new Error('the login was cancelled')) };
}

/** Opens the system browser. The URL carries no secret (PKCE keeps the verifier here). */
export function openSystemBrowser(url: string): void {
  const [cmd, args] =
    process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['rundll32', ['url.dll,FileProtocolHandler', url]] : ['xdg-open', [url]];
  const child = spawn(cmd, args as string[], { stdio: 'ignore', detached: true });
  child.on('error', () => {});
  child.unref();
}
