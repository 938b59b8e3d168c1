// The `secretless-desktop` command.
import { existsSync, mkdirSync, readFileSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { createAuditLog } from './audit/audit-log.js';
import { descriptorLimit } from './connection-limit.js';
import { createBroker } from './broker.js';
import { formatListenAddress } from './config/listen-address.js';
import { findConfigPath, loadConfig, permissionWarning, userConfigDir, userStateDir } from './config/load.js';
import { ConfigError, type BrokerConfig } from './config/types.js';
import { builtinConnectors, connectorSpecs } from './connectors/registry.js';
import { createProviderRegistry, defaultProviders } from './credentials/registry.js';
import { createResolver } from './credentials/resolver.js';
import { lookupPeer } from './listeners/peer.js';
import { createApprovals } from './access/approvals.js';
import { watchIdentityChanges } from './identity/change-signal.js';
import { checkSsh2Internals } from './ssh/ssh2-internals.js';
import { createLogger, parseLogLevel, type Logger } from './log.js';
import { createLogFile } from './log-file.js';
import { createBastionPool } from './ssh/bastion-pool.js';
import { parentPort, parseFromMain, type ParentPort } from './control/parent-port.js';
import type { BrokerRunState } from './api.js';
import { ensureLocalCertificate } from './tls/local-certificate.js';
import { identityCommand } from './control/identity-commands.js';
import { createIdentityRuntime, IDENTITY_PROVIDER_NAMES } from './credentials/identity-runtime.js';
import type { Provider } from './credentials/types.js';
import { readStoppedTargets } from './api-service.js';
import { controlCommand, parseUiPort } from './control/cli-commands.js';
import { startUi, targetStateFile, type Ui } from './control/ui.js';
import { createServeHealth, type ServeHealth } from './control/serve-health.js';
import type { HealthServer } from './control/health-server.js';
import { VERSION } from './version.js';
import { argumentErrorText, COMMAND_HELP, isArgumentError } from './cli-help.js';
import { didYouMean } from './suggest.js';
import { nativePumpStatus } from './net/native-pump.js';

const USAGE = `Usage: secretless-desktop <command> [options]

Commands:
  serve            run the broker headless with a secretless.yml (version 2) config
                   (-f FILE, --watch, --audit-log PATH, --log-level LEVEL, --log-format
                   text|json, --log-file PATH, --wait-for-config, --peer-lookup, --ui,
                   --ui-port N, --max-connections N, --health-port N, --health-host HOST)
  check            validate a config file and list its services (-f FILE)
  login NAME       log in to an identity of the config's \`identities:\` (OIDC; tokens go
                   to the OS keychain) (-f FILE, --no-browser, --audit-log PATH)
  logout NAME      revoke and forget an identity's tokens (-f FILE, --audit-log PATH)
  status           targets of the running broker: state, health, address, expiries (--json)
  start NAME       start a target of the running broker
  stop NAME        stop a target (it stays stopped across restarts until started)
  test NAME        log in to the target now, as a client connection would (no client
                   needed); ok with the latency, or the error and exit 1 (--json)
  delete NAME      remove a target from the config (--remove-keychain-items)
  open             print the UI's URL (with its access token) and open it in the browser
                   (--no-browser, --new-token)
  audit            recent audit records; without a running broker, from the audit log
                   file (-f/--follow, --service NAME, --outcome ok|failed, --limit N,
                   --json, --audit-log PATH)
  approvals        programs waiting for your approval (approval: ask), and the lock (--json)
  approve ID       let the program use the target: once, --until-exit (this process until
                   it exits) or --for 4h (this executable for a while)
  deny ID          refuse the program (it gets the broker's not_approved error)
  lock             revoke every approval; every new connection asks until unlock
                   (--close-sessions also closes open sessions)
  unlock           end the lock
  help             show this help
  --version        print the version

\`secretless-desktop COMMAND --help\` shows a command's options in full.
`;

const EXAMPLE_CONFIG = `# Secretless Desktop configuration (Secretless Broker secretless.yml, version 2).
# Each service is a local listener; clients connect to it without credentials and the
# broker logs in to the target with the credentials below. Uncomment and adapt:
#
# services:
#   my-postgres:
#     connector: pg
#     listenOn: tcp://127.0.0.1:15432      # or unix:///path/to/socket
#     credentials:
#       host: db.example.com
#       port: 5432
#       username: app
#       password:
#         from: keychain                 # literal, env, file or keychain
#         get: secretless-desktop/my-postgres#password   # keychain id: service#account
#       sslmode: verify-full
#       sslrootcert: /path/to/ca.pem
version: "2"
services: {}
`;

export async function main(argv: string[]): Promise<void> {
  const [command = 'help', ...rest] = argv;
  const help = COMMAND_HELP[command];
  if (help && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(help);
    return;
  }
  try {
    await dispatch(command, rest);
  } catch (err) {
    if (!isArgumentError(err)) throw err;
    process.stderr.write(`secretless-desktop ${command}: ${argumentErrorText(err)}\n\n${help ?? USAGE}`);
    process.exitCode = 2;
  }
}

async function dispatch(command: string, rest: string[]): Promise<void> {
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'check':
      return check(rest);
    case 'login':
    case 'logout':
      return identityCommand(command, rest, connectorSpecs(builtinConnectors()));
    case 'status':
    case 'start':
    case 'stop':
    case 'test':
    case 'delete':
    case 'open':
    case 'audit':
    case 'approvals':
    case 'approve':
    case 'deny':
    case 'lock':
    case 'unlock':
      return controlCommand(command, rest);
    case '--version':
    case '-V':
    case 'version':
      process.stdout.write(`secretless-desktop ${VERSION}\n`);
      return;
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`unknown command '${command}'${didYouMean(command, Object.keys(COMMAND_HELP))}\n\n${USAGE}`);
      process.exitCode = 2;
  }
}

function parseMaxConnections(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--max-connections must be a positive whole number, not '${text}'`);
  return n;
}

function parseServeArgs(args: string[]) {
  return parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'f' },
      watch: { type: 'boolean', default: false },
      'audit-log': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      'log-format': { type: 'string', default: 'text' },
      'log-file': { type: 'string' },
      'wait-for-config': { type: 'boolean', default: false },
      'peer-lookup': { type: 'boolean', default: false },
      ui: { type: 'boolean', default: false },
      'ui-port': { type: 'string' },
      'max-connections': { type: 'string' },
      'health-port': { type: 'string' },
      'health-host': { type: 'string', default: '127.0.0.1' },
    },
    allowPositionals: false,
  }).values;
}

function loadOptions(identityProviders: Provider[] = []) {
  const registry = createProviderRegistry([...defaultProviders(), ...identityProviders]);
  const connectors = builtinConnectors();
  const providers = [...new Set([...registry.names(), ...IDENTITY_PROVIDER_NAMES])];
  return { registry, connectors, parse: { connectors: connectorSpecs(connectors), providers } };
}

/** Without -f and with no config anywhere, create the user's config with a commented example. */
function resolveConfigPath(explicit: string | undefined, logger?: Logger): string {
  const found = findConfigPath({ explicit });
  if (explicit || existsSync(found.path)) return found.path;
  const path = join(userConfigDir(), 'secretless.yml');
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, EXAMPLE_CONFIG, { mode: 0o600, flag: 'wx' });
  logger?.info('created an example config', { path });
  return path;
}

async function check(args: string[]): Promise<void> {
  const values = parseServeArgs(args);
  const { parse } = loadOptions();
  const path = findConfigPath({ explicit: values.config }).path;
  try {
    const config = await loadConfig(path, parse);
    process.stdout.write(`${path}: ok, ${config.services.length} service(s)\n`);
    for (const s of config.services) process.stdout.write(`  ${s.name}: ${s.connector} on ${formatListenAddress(s.listenOn)}\n`);
    const warning = permissionWarning(path, config);
    if (warning) process.stderr.write(`warning: ${warning}\n`);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 2;
  }
}


async function serve(args: string[]): Promise<void> {
  const values = parseServeArgs(args);
  const logFile = values['log-file'] ? createLogFile(values['log-file']) : undefined;
  const logger = createLogger({
    level: parseLogLevel(values['log-level']!),
    format: values['log-format'] === 'json' ? 'json' : 'text',
    ...(logFile ? { write: (line: string) => logFile.write(line) } : {}),
  });
  // Under the desktop app (an Electron utility process) main learns our state through the port.
  const port = parentPort();
  const report = (status: BrokerRunState): void => port?.postMessage({ type: 'broker-state', status });
  const stopSignal = stopSignals(port);
  port?.on('message', (e) => {
    const m = parseFromMain(e.data);
    if (m?.type === 'auto-lock') approvals.autoLock(m.event);
    if (m?.type !== 'resume') return;
    // Timers slept through the night: sessions past their refresh time refresh now, and
    // bastion connections (dead after a sleep, though not yet noticed) are dropped; the
    // next connection re-establishes them.
    logger.info('the machine woke up: refreshing identity sessions and SSH bastion connections');
    identity.sessions.wake();
    bastions.closeAll();
  });
  // Identity sessions (IdentitySessions for the API layer: identity.sessions) and the
  // providers that use them. Audit is bound late: the log is opened below.
  // Under serve, logins start from the UI (or the control API), which opens the returned
  // URL itself (the page in the user's browser, Electron through shell.openExternal);
  // the broker opening it too would show the login page twice.
  const identity = createIdentityRuntime({
    audit: { record: (e) => audit.record(e) },
    logger,
    baseProviders: defaultProviders(),
    openBrowser: () => {},
  });
  const { registry, connectors, parse } = loadOptions(identity.providers);
  // Sessions resume from the keychain in the background; a failure is a session state, not a crash.
  const resumeSessions = (): void =>
    void identity.sessions.resume().catch((err: Error) => logger.error('identity sessions could not resume', { reason: err.message }));
  const configPath = resolveConfigPath(values.config, logger);
  const auditPath = values['audit-log'] ?? join(userStateDir(), 'audit.jsonl');
  const audit = createAuditLog({
    path: auditPath,
    onError: (err) => logger.error('audit log write failed', { path: auditPath, reason: err.message }),
    onDropped: (count, reason) => logger.warn('audit log writing again; records were lost', { path: auditPath, lost: count, reason }),
    onWarning: (message, fields) => logger.warn(message, fields),
  });
  const resolver = createResolver({ registry, audit, logger });
  // Ours, not the broker's: a wake-up from sleep drops its (dead) connections.
  const bastions = createBastionPool();
  // Consent prompts and the lock. They read the config in force through the broker (created next).
  const approvals = createApprovals({
    audit,
    logger,
    config: () => broker.config(),
    // The prompt must name the program, and the user takes seconds to answer anyway: a slow /proc scan (a busy machine) may take its time.
    lookupPeer: (s) => lookupPeer(s, { timeoutMs: 5_000 }),
    closeSessions: () => broker.closeConnections(),
  });
  const broker = createBroker({
    approve: (request) => approvals.check(request),
    bastions,
    logger,
    audit,
    resolver,
    connectors,
    lookupPeer: values['peer-lookup'] ? (s) => lookupPeer(s) : undefined,
    localCertificate: () => ensureLocalCertificate(userStateDir()),
    stateDir: userStateDir(),
    stopped: values.ui ? readStoppedTargets(targetStateFile(userStateDir())) : undefined,
    maxConnections: parseMaxConnections(values['max-connections']),
  });
  logger.info('connection limit', { maxConnections: broker.maxConnections, openFileLimit: descriptorLimit() ?? 'unknown' });
  const pump = nativePumpStatus();
  logger.info('data path', pump.loaded ? { pipe: 'native', threads: pump.threads } : { pipe: 'js', why: pump.reason });

  /** A start that fails: close what was started and exit 2; a signal now ends the process at once. */
  const failStart = async (message: string | undefined, started: () => Promise<void> = async () => {}): Promise<void> => {
    if (message !== undefined) process.stderr.write(`${message}\n`);
    stopSignal.dispose();
    identity.close();
    await started();
    await audit.close();
    logFile?.close();
    process.exitCode = 2;
  };
  // Counting starts before the config loads, so the metrics agree with the whole audit log.
  let healthSetup: ServeHealth | undefined;
  try {
    healthSetup = values['health-port'] === undefined ? undefined : createServeHealth(values['health-port'], values['health-host']!, { broker, audit, sessions: identity.sessions });
  } catch (err) {
    return failStart((err as Error).message);
  }
  const rejected = (err: unknown): void => {
    const status = configErrorState(configPath, err);
    logger.error('the config is invalid', { path: configPath, reason: status.reason, line: status.line });
    report(status);
  };
  let config: BrokerConfig;
  try {
    config = await loadConfig(configPath, parse);
  } catch (err) {
    if (!logFile) process.stderr.write(`${(err as Error).message}\n`);
    rejected(err);
    const fixed = values['wait-for-config'] ? await waitForValidConfig(configPath, () => loadConfig(configPath, parse), rejected, stopSignal.request, logger) : undefined;
    if (!fixed) {
      await failStart(undefined);
      // Stopped while waiting for a fix: not a failure.
      if (values['wait-for-config']) process.exitCode = 0;
      return;
    }
    config = fixed;
  }
  const loadedText = readFileSyncOrEmpty(configPath);
  try {
    // The SSH connectors rely on ssh2 internals: an ssh2 that moved them must stop the broker here, not break logins later.
    await checkSsh2Internals();
  } catch (err) {
    if (!logFile) process.stderr.write(`${(err as Error).message}\n`);
    logger.error('ssh2 self-check failed', { reason: (err as Error).message });
    await audit.close();
    logFile?.close();
    process.exitCode = 1;
    return;
  }
  logger.info('config loaded', { path: configPath, services: config.services.length, audit: auditPath });
  warnPermissions(logger, configPath, config);
  audit.record({ type: 'config.loaded', source: configPath, services: config.services.length });
  identity.apply(config.identities);
  resumeSessions();
  await broker.apply(config);

  let reloading = Promise.resolve();
  const reload = (why: string): Promise<void> => {
    return (reloading = reloading.then(async () => {
      try {
        const next = await loadConfig(configPath, parse);
        logger.info('config reloaded', { why, services: next.services.length });
        warnPermissions(logger, configPath, next);
        audit.record({ type: 'config.loaded', source: configPath, services: next.services.length });
        identity.apply(next.identities);
        resumeSessions();
        await broker.apply(next);
        approvals.configChanged();
        report({ state: 'running' });
      } catch (err) {
        const reason = err instanceof ConfigError ? err.message : `cannot reload: ${(err as Error).message}`;
        logger.error('new config rejected; the running config stays', { why, reason });
        audit.record({ type: 'config.rejected', source: configPath, reason });
        report(configErrorState(configPath, err));
      }
    }));
  };
  process.on('SIGHUP', () => reload('SIGHUP'));
  // A login or logout in a terminal: the session, and the credentials obtained with it, follow at once.
  let stopIdentityWatch = (): void => {};
  try {
    stopIdentityWatch = watchIdentityChanges(userStateDir(), (change) => {
      void identity.sessions
        .reload(change.identity, change.change)
        .catch((err: Error) => logger.warn('identity reload failed', { identity: change.identity, reason: err.message }))
        .then(() => resolver.invalidate());
    });
  } catch (err) {
    logger.warn('logins and logouts in other processes are seen only at the next keychain read', { reason: (err as Error).message });
  }
  const watcher = values.watch ? watchFile(configPath, loadedText, () => reload('file changed')) : undefined;
  if (watcher) logger.info('watching the config file for changes', { path: configPath });
  let ui: Ui | undefined;
  if (values.ui) {
    try {
      const uiPort = parseUiPort(values['ui-port']);
      // Under the desktop app the URL and its token go to main through the port, never to stdout.
      const print = port ? () => {} : undefined;
      ui = await startUi({ broker, audit, configPath, parse, reload: () => reload('saved from the UI'), stateDir: userStateDir(), port: uiPort, logger, identities: identity.sessions, approvals, ...(print ? { print } : {}) });
    } catch (err) {
      return failStart((err as Error).message, async () => {
        stopIdentityWatch();
        watcher?.close();
        await broker.stop({ drainMs: 0 });
        bastions.closeAll();
      });
    }
  }

  approvals.configChanged();

  let health: HealthServer | undefined;
  if (healthSetup) {
    try {
      health = await healthSetup.start();
      logger.info('health endpoints listening', { url: health.url, paths: '/live /ready /metrics' });
    } catch (err) {
      return failStart(`--health-port: cannot listen on ${values['health-host']}:${values['health-port']}: ${(err as Error).message}`, async () => {
        stopIdentityWatch();
        watcher?.close();
        await ui?.close();
        await broker.stop({ drainMs: 0 });
        bastions.closeAll();
      });
    }
  }

  // With no services nothing else holds the event loop, yet serve must stay up for a reload.
  const keepAlive = setInterval(() => {}, 1 << 30);
  logger.info('ready', { services: config.services.length });
  report({ state: 'running' });
  const { signal, drainMs } = await stopSignal.request;
  clearInterval(keepAlive);
  logger.info('stopping', { signal, drainMs });
  identity.close();
  stopIdentityWatch();
  watcher?.close();
  await ui?.close();
  approvals.close();
  await health?.close();
  await broker.stop({ drainMs });
  bastions.closeAll();
  await audit.close();
  logger.info('stopped', { signal });
  logFile?.close();
}

interface StopRequest {
  signal: string;
  drainMs: number;
}

/**
 * Resolves at the first SIGINT/SIGTERM or `stop` message from the desktop app; a second
 * signal exits at once. Installed before anything starts; dispose() gives the signals
 * their default effect back (a start that failed).
 */
function stopSignals(port?: ParentPort): { request: Promise<StopRequest>; dispose(): void } {
  let received = false;
  let resolveRequest: (r: StopRequest) => void = () => {};
  const request = new Promise<StopRequest>((resolve) => (resolveRequest = resolve));
  const on = (signal: string, drainMs = 5_000): void => {
    if (received) process.exit(130);
    received = true;
    resolveRequest({ signal, drainMs });
  };
  const onInt = (): void => on('SIGINT');
  const onTerm = (): void => on('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  port?.on('message', (e) => {
    const m = parseFromMain(e.data);
    if (m?.type === 'stop') on('stop requested by the app', m.drainMs);
  });
  return {
    request,
    dispose() {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}

/** The config-error state for the desktop app: the file, the first problem (its line apart) and how many more. */
export function configErrorState(path: string, err: unknown): Extract<BrokerRunState, { state: 'config-error' }> {
  if (err instanceof ConfigError && err.issues.length > 0) {
    const first = err.issues[0]!;
    const more = err.issues.length > 1 ? ` (and ${err.issues.length - 1} more)` : '';
    return { state: 'config-error', file: path, line: first.line, reason: `${first.path}: ${first.message}${more}` };
  }
  return { state: 'config-error', file: path, reason: (err as Error).message };
}

/** Waits for the config file to change into a valid config; undefined when stopped first. */
async function waitForValidConfig(
  path: string,
  load: () => Promise<BrokerConfig>,
  rejected: (err: unknown) => void,
  stop: Promise<unknown>,
  logger: Logger,
): Promise<BrokerConfig | undefined> {
  logger.info('waiting for the config file to be fixed', { path });
  let stopped = false;
  void stop.then(() => (stopped = true));
  for (;;) {
    const changed = new Promise<void>((resolve) => {
      const w = watchFile(path, readFileSyncOrEmpty(path), () => {
        w.close();
        resolve();
      });
      void stop.then(() => w.close());
    });
    await Promise.race([changed, stop]);
    if (stopped) return undefined;
    try {
      return await load();
    } catch (err) {
      rejected(err);
    }
  }
}

/** Watch the directory: editors replace files by rename, which a file watch misses. */
function watchFile(path: string, loadedText: string, onChange: () => void): FSWatcher {
  let timer: NodeJS.Timeout | undefined;
  let last = loadedText;
  const name = basename(path);
  return watch(dirname(path), (_event, file) => {
    if (file && file !== name) return;
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const text = await readFile(path, 'utf8').catch(() => '');
      if (text === last) return;
      last = text;
      onChange();
    }, 150);
  });
}

function warnPermissions(logger: Logger, path: string, config: BrokerConfig): void {
  const warning = permissionWarning(path, config);
  if (warning) logger.warn('the config file is readable by other users', { reason: warning });
}

function readFileSyncOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
