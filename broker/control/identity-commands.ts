// `secretless-desktop login NAME` and `logout NAME`. They run in their own process and
// share state with a running `serve` through the OS keychain only: a broker that needs
// a token for an identity it has none for reads the keychain again.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createAuditLog } from '../audit/audit-log.js';
import { findConfigPath, loadConfig, userStateDir } from '../config/load.js';
import type { ConnectorSpec } from '../config/types.js';
import { defaultProviders } from '../credentials/registry.js';
import { createLogger } from '../log.js';
import { signalIdentityChange } from '../identity/change-signal.js';
import { isWorkload } from '../identity/config.js';
import { createIdentityRuntime, IDENTITY_PROVIDER_NAMES } from '../credentials/identity-runtime.js';

export async function identityCommand(command: 'login' | 'logout', args: string[], connectors: ConnectorSpec[]): Promise<void> {
  // A bad option throws: the CLI prints it with the command's help.
  const { values, positionals } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'f' }, 'no-browser': { type: 'boolean', default: false }, 'audit-log': { type: 'string' } },
    allowPositionals: true,
  });
  const name = positionals[0];
  if (!name || positionals.length > 1) {
    process.stderr.write(`usage: secretless-desktop ${command} NAME [-f CONFIG]${command === 'login' ? ' [--no-browser]' : ''}\n`);
    process.exitCode = 2;
    return;
  }
  const logger = createLogger({ level: 'warn' });
  const base = defaultProviders();
  const path = findConfigPath({ explicit: values.config }).path;
  let identities;
  try {
    identities = (await loadConfig(path, { connectors, providers: [...base.map((p) => p.name), ...IDENTITY_PROVIDER_NAMES] })).identities ?? [];
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  const entry = identities.find((i) => i.name === name);
  if (entry && isWorkload(entry)) {
    process.stderr.write(`${path}: identity '${name}' is a ${entry.type} identity: its token comes from the platform, there is no ${command}\n`);
    process.exitCode = 2;
    return;
  }
  if (!entry || entry.type !== 'oidc') {
    const names = identities.filter((i) => i.type === 'oidc').map((i) => i.name);
    process.stderr.write(`${path}: no oidc identity named '${name}'${names.length ? ` (configured: ${names.join(', ')})` : ' (the file has no `identities:` of type oidc)'}\n`);
    process.exitCode = 2;
    return;
  }
  const auditPath = values['audit-log'] ?? join(userStateDir(), 'audit.jsonl');
  const audit = createAuditLog({ path: auditPath, onError: (err) => logger.error('audit log write failed', { reason: err.message }) });
  const runtime = createIdentityRuntime({
    audit,
    logger,
    baseProviders: base,
    ...(values['no-browser'] ? { openBrowser: () => {} } : {}),
  });
  runtime.apply(identities);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  try {
    if (command === 'logout') {
      await runtime.sessions.logout(name);
      signalIdentityChange(userStateDir(), { identity: name, change: 'logout' });
      process.stdout.write(`logged out of '${name}'; its tokens were removed from the OS keychain\n`);
      return;
    }
    const start = await runtime.sessions.login(name, { signal: stop.signal });
    if (start.flow === 'authorization_code') {
      process.stderr.write(`${values['no-browser'] ? 'Open this URL' : 'Your browser was opened; if not, open this URL'} to log in to '${name}':\n  ${start.url}\n`);
    } else {
      process.stderr.write(
        `To log in to '${name}', open ${start.verificationUriComplete ?? start.verificationUri}\n` + `and confirm the code: ${start.userCode}\n`,
      );
    }
    const done = await runtime.sessions.waitForLogin(name, stop.signal);
    signalIdentityChange(userStateDir(), { identity: name, change: 'login' });
    process.stdout.write(`logged in to '${name}' until ${done.expiresAt}; a running broker uses the session at once\n`);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    process.off('SIGINT', onSignal);
    runtime.close();
    await audit.close();
  }
}
