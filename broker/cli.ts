// The `secretless-desktop` command.
import { existsSync, mkdirSync, readFileSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { createAuditLog } from './audit/audit-log.js';
import { createBroker } from './broker.js';
import { formatListenAddress } from './config/listen-address.js';
import { findConfigPath, loadConfig, userConfigDir, userStateDir } from './config/load.js';
import { ConfigError, type BrokerConfig } from './config/types.js';
import { builtinConnectors, connectorSpecs } from './connectors/registry.js';
import { createProviderRegistry, defaultProviders } from './credentials/registry.js';
import { createResolver } from './credentials/resolver.js';
import { lookupPeer } from './listeners/peer.js';
import { createLogger, parseLogLevel, type Logger } from './log.js';
import { ensureLocalCertificate } from './tls/local-certificate.js';
import { identityCommand } from './control/identity-commands.js';
import { createIdentityRuntime, IDENTITY_PROVIDER_NAMES } from './credentials/identity-runtime.js';
import type { Provider } from './credentials/types.js';
import { readStoppedTargets } from './api-service.js';
import { controlCommand, parseUiPort } from './control/cli-commands.js';
import { startUi, targetStateFile, type Ui } from './control/ui.js';

const USAGE = `Usage: secretless-desktop <command> [options]

Commands:
  serve            run the broker headless with a secretless.yml (version 2) config
  check            validate a config file and list its services
  login NAME       log in to an identity of the config's \`identities:\` (OIDC; tokens go to the OS keychain)
  logout NAME      revoke and forget an identity's tokens
  status           targets of the running broker: state, local address, expiries
  start NAME       start a target of the running broker
  stop NAME        stop a target (it stays stopped across restarts until started)
  audit [--follow] recent audit records (--service NAME, --outcome ok|failed, --limit N)
  help             show this help

Options (serve, check):
  -f, --config FILE    config file (default: ./secretless.yml, then the user config dir)
  --watch              reload when the config file changes (SIGHUP always reloads)
  --audit-log PATH     audit log file (default: <user state dir>/audit.jsonl)
  --log-level LEVEL    debug, info, warn or error (default info)
  --log-format FORMAT  text or json (default text)
  --peer-lookup        record the client process (pid/uid) of TCP clients in the audit
                       log (scans /proc; costs a few ms per connection)
  --ui                 also serve the UI and the control API on 127.0.0.1 (prints the
                       URL with its access token once; status/start/stop/audit use it)
  --ui-port N          port for --ui (default: a free port)
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
#         get: secretless#my-postgres    # keychain id: service#account
#       sslmode: verify-full
#       sslrootcert: /path/to/ca.pem
version: "2"
services: {}
`;

export async function main(argv: string[]): Promise<void> {
  const [command = 'help', ...rest] = argv;
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
    case 'audit':
      return controlCommand(command, rest);
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`unknown command '${command}'\n\n${USAGE}`);
      process.exitCode = 2;
  }
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
      'peer-lookup': { type: 'boolean', default: false },
      ui: { type: 'boolean', default: false },
      'ui-port': { type: 'string' },
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
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 2;
  }
}


async function serve(args: string[]): Promise<void> {
  const values = parseServeArgs(args);
  const logger = createLogger({
    level: parseLogLevel(values['log-level']!),
    format: values['log-format'] === 'json' ? 'json' : 'text',
  });
  const stopSignal = stopSignals();
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
  const audit = createAuditLog({ path: auditPath, onError: (err) => logger.error('audit log write failed', { path: auditPath, reason: err.message }) });
  const resolver = createResolver({ registry, audit, logger });
  const broker = createBroker({
    logger,
    audit,
    resolver,
    connectors,
    lookupPeer: values['peer-lookup'] ? (s) => lookupPeer(s) : undefined,
    localCertificate: () => ensureLocalCertificate(userStateDir()),
    stateDir: userStateDir(),
    stopped: values.ui ? readStoppedTargets(targetStateFile(userStateDir())) : undefined,
  });

  let config: BrokerConfig;
  const loadedText = readFileSyncOrEmpty(configPath);
  try {
    config = await loadConfig(configPath, parse);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    await audit.close();
    process.exitCode = 2;
    return;
  }
  logger.info('config loaded', { path: configPath, services: config.services.length, audit: auditPath });
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
        audit.record({ type: 'config.loaded', source: configPath, services: next.services.length });
        identity.apply(next.identities);
        resumeSessions();
        await broker.apply(next);
      } catch (err) {
        const reason = err instanceof ConfigError ? err.message : `cannot reload: ${(err as Error).message}`;
        logger.error('new config rejected; the running config stays', { why, reason });
        audit.record({ type: 'config.rejected', source: configPath, reason });
      }
    }));
  };
  process.on('SIGHUP', () => reload('SIGHUP'));
  const watcher = values.watch ? watchFile(configPath, loadedText, () => reload('file changed')) : undefined;
  if (watcher) logger.info('watching the config file for changes', { path: configPath });
  let ui: Ui | undefined;
  if (values.ui) {
    try {
      const port = parseUiPort(values['ui-port']);
      ui = await startUi({ broker, audit, configPath, parse, reload: () => reload('saved from the UI'), stateDir: userStateDir(), port, logger, identities: identity.sessions });
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n`);
      watcher?.close();
      await broker.stop({ drainMs: 0 });
      await audit.close();
      process.exitCode = 2;
      return;
    }
  }

  // With no services nothing else holds the event loop, yet serve must stay up for a reload.
  const keepAlive = setInterval(() => {}, 1 << 30);
  logger.info('ready', { services: config.services.length });
  const signal = await stopSignal;
  clearInterval(keepAlive);
  logger.info('stopping', { signal });
  identity.close();
  watcher?.close();
  await ui?.close();
  await broker.stop({ drainMs: 5_000 });
  await audit.close();
}

/** Resolves at the first SIGINT/SIGTERM; a second one exits at once. Installed before anything starts. */
function stopSignals(): Promise<string> {
  return new Promise((resolve) => {
    let received = false;
    const on = (signal: string) => {
      if (received) process.exit(130);
      received = true;
      resolve(signal);
    };
    process.on('SIGINT', () => on('SIGINT'));
    process.on('SIGTERM', () => on('SIGTERM'));
  });
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

function readFileSyncOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
