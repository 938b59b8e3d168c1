// Auto-update with electron-updater, only in packaged builds: checked at start and daily
// against the generic feed the packager configured (app-update.yml, from `publish` in
// build/electron-builder.yml); a downloaded update is offered in the tray and installed
// on "Restart to update" or at the next quit. Failures (offline, no feed) are logged only.
import type { AppUpdater } from 'electron-updater';

export interface UpdatesOptions {
  packaged: boolean;
  log(line: string): void;
  onReady(version: string): void;
}

export interface Updates {
  install(): void;
  stop(): void;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export async function startUpdates(options: UpdatesOptions): Promise<Updates | undefined> {
  if (!options.packaged) return undefined;
  const { log } = options;
  let updater: AppUpdater;
  try {
    updater = (await import('electron-updater')).default.autoUpdater;
  } catch (err) {
    log(`WARN  auto-update unavailable: ${(err as Error).message}`);
    return undefined;
  }
  updater.logger = {
    info: (m?: unknown) => log(`INFO  update: ${String(m)}`),
    warn: (m?: unknown) => log(`WARN  update: ${String(m)}`),
    error: (m?: unknown) => log(`ERROR update: ${String(m)}`),
  };
  updater.autoDownload = true;
  updater.autoInstallOnAppQuit = true;
  updater.on('update-downloaded', (info) => options.onReady(info.version));
  const failed = (err: Error): void => log(`WARN  update check failed: ${err.message}`);
  // The automatic download's promise rejects too (e.g. a checksum mismatch); the 'error' event already said so.
  updater.on('error', failed);
  const check = (): void => void updater.checkForUpdates().then((r) => r?.downloadPromise?.catch(() => {}), failed);
  check();
  const daily = setInterval(check, DAY_MS);
  daily.unref();
  return {
    install: () => updater.quitAndInstall(),
    stop: () => clearInterval(daily),
  };
}
