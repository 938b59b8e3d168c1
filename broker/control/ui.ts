// `serve --ui`: the BrokerApi over the control server, the built renderer, and the
// control file the CLI uses to find us. Prints the page URL (with the token) once;
// `secretless-desktop open` prints it again.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IdentitySessions } from '../api.js';
import { createBrokerApi, type AuditFeedSource, type BrokerApiService } from '../api-service.js';
import type { Broker } from '../broker.js';
import type { Approvals } from '../access/approvals.js';
import type { ParseOptions } from '../config/parse.js';
import type { Logger } from '../log.js';
import { parentPort } from './parent-port.js';
import { controlFilePath, removeControlFile, writeControlFile } from './runtime-file.js';
import { newUiToken, readUiSecret, saveUiSecret, uiSecretPath } from './ui-secret.js';
import { startControlServer, type ControlServer } from './server.js';

export interface UiOptions {
  broker: Broker;
  audit: AuditFeedSource;
  configPath: string;
  parse: Omit<ParseOptions, 'source'>;
  reload: () => Promise<void>;
  stateDir: string;
  port?: number;
  identities?: IdentitySessions;
  approvals?: Approvals;
  logger: Logger;
  /** Where the URL line goes; default stdout. */
  print?: (line: string) => void;
}

export interface Ui {
  api: BrokerApiService;
  server: ControlServer;
  close(): Promise<void>;
}

/** dist/ui (the Vite build), next to dist/broker (this file is dist/broker/control/ui.js). */
export const RENDERER_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'ui');

/** The file where user-stopped targets are remembered. */
export const targetStateFile = (stateDir: string): string => join(stateDir, 'targets.json');

export async function startUi(options: UiOptions): Promise<Ui> {
  const api = createBrokerApi({
    broker: options.broker,
    audit: options.audit,
    configPath: options.configPath,
    parse: options.parse,
    reload: options.reload,
    identities: options.identities,
    approvals: options.approvals,
    stateFile: targetStateFile(options.stateDir),
    stateDir: options.stateDir,
  });
  // The same token and, when free, the same port as last time: an open page survives a restart.
  const saved = readUiSecret(options.stateDir);
  const token = saved?.token ?? newUiToken();
  const file = controlFilePath(options.stateDir);
  const rotateToken = (): string => {
    const fresh = newUiToken();
    saveUiSecret(options.stateDir, { token: fresh, port: server.port });
    writeControlFile(file, { url: server.url, token: fresh, pid: process.pid });
    options.logger.info('UI access token replaced; open pages must use the new URL');
    parentPort()?.postMessage({ type: 'control-ready', url: server.url, token: fresh });
    return fresh;
  };
  const start = (port: number | undefined) => startControlServer({ api, port, token, staticDir: RENDERER_DIR, logger: options.logger, rotateToken });
  let server: ControlServer;
  try {
    server = await start(options.port ?? saved?.port).catch((err: NodeJS.ErrnoException) => {
      // Our last port was taken meanwhile: any free one (`open` prints the new URL).
      if (err.code === 'EADDRINUSE' && options.port === undefined && saved?.port !== undefined) return start(0);
      throw err;
    });
  } catch (err) {
    api.close();
    const e = err as NodeJS.ErrnoException;
    throw new Error(e.code === 'EADDRINUSE' ? `the UI port ${options.port} is in use: pick another with --ui-port` : `the UI could not start: ${e.message}`);
  }
  let writing = file;
  try {
    writeControlFile(file, { url: server.url, token: server.token, pid: process.pid });
    writing = uiSecretPath(options.stateDir);
    saveUiSecret(options.stateDir, { token, port: server.port });
  } catch (err) {
    // Without the file the CLI cannot find us: close the port rather than serve unreachable.
    api.close();
    await server.close();
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new Error(`the UI could not start: cannot write the ${writing === file ? 'control' : 'UI token'} file ${writing} (${code}${code === 'ENOSPC' ? ': the disk is full' : ''})`);
  }
  const onExit = (): void => removeControlFile(file);
  process.on('exit', onExit);
  options.logger.info('control UI listening', { url: server.url, controlFile: file });
  (options.print ?? ((l) => process.stdout.write(l + '\n')))(`Open the Secretless Desktop UI: ${server.pageUrl}`);
  // In an Electron utilityProcess the main process learns the address this way.
  parentPort()?.postMessage({ type: 'control-ready', url: server.url, token: server.token });
  return {
    api,
    server,
    async close() {
      process.off('exit', onExit);
      removeControlFile(file);
      api.close();
      await server.close();
    },
  };
}
