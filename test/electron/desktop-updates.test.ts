// Auto-update (electron-updater, the real package) against a local update feed served by
// the test the way a generic provider serves one (latest-linux.yml next to the artifact):
// off when not packaged; packaged, the update is checked at start, downloaded and
// verified (sha512), offered in the tray, and installed from there. The "AppImage" is a
// shell script that leaves a mark when the installer runs it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { closeHarness, launchApp } from '../electron-harness/harness.js';

const dir = mkdtempSync(join(tmpdir(), 'sl-updates-'));
const mark = join(dir, 'installed-0.2.0');
const artifact = Buffer.from(`#!/bin/sh\ntouch '${mark}'\n`);
const requests: string[] = [];
let corrupt = false;
let server: Server;
let feed: string;

before(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const path = (req.url ?? '').split('?')[0];
    if (path === '/latest-linux.yml') {
      const sha512 = createHash('sha512').update(corrupt ? 'something else' : artifact).digest('base64');
      res.end(`version: 0.2.0\nfiles:\n  - url: Secretless-Desktop-0.2.0.AppImage\n    sha512: ${sha512}\n    size: ${artifact.length}\npath: Secretless-Desktop-0.2.0.AppImage\nsha512: ${sha512}\nreleaseDate: '2026-12-01T00:00:00.000Z'\n`);
    } else if (path === '/Secretless-Desktop-0.2.0.AppImage') {
      res.setHeader('content-length', artifact.length);
      res.end(artifact);
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  feed = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
});
after(async () => {
  await closeHarness();
  server.close();
});

/** A packaged app's resources dir (app-update.yml, as electron-builder writes it from `publish`) and a HOME with one target. */
function install(): { home: string; resources: string; appImage: string } {
  const home = mkdtempSync(join(dir, 'home-'));
  const cfg = join(home, '.config', 'secretless-desktop');
  mkdirSync(cfg, { recursive: true });
  writeFileSync(join(cfg, 'secretless.yml'), 'version: "2"\nservices:\n  db:\n    connector: pg\n    listenOn: tcp://127.0.0.1:0\n    credentials: { host: 127.0.0.1, port: 1, username: u, password: { from: literal, get: x } }\n');
  const resources = mkdtempSync(join(dir, 'resources-'));
  writeFileSync(join(resources, 'app-update.yml'), `provider: generic\nurl: ${feed}\nupdaterCacheDirName: secretless-desktop-updater\n`);
  const appImage = join(home, 'Secretless-Desktop-0.1.0.AppImage');
  writeFileSync(join(appImage), '#!/bin/sh\n', { mode: 0o755 });
  return { home, resources, appImage };
}

test('not packaged: no update check at all', async () => {
  const { home, resources } = install();
  requests.length = 0;
  const app = await launchApp({ home, resourcesPath: resources });
  try {
    await app.until('db running', () => app.tray.labels().includes('db: running'));
    await app.until('the window', () => app.window()?.isVisible());
  } finally {
    await app.quit();
    await app.close();
  }
  assert.deepEqual(requests, []);
  assert.equal(app.state.netRequests.length, 0);
});

test('packaged: checked at start, downloaded and verified, offered in the tray, installed by "Restart to update"', async () => {
  const { home, resources, appImage } = install();
  process.env.APPIMAGE = appImage;
  requests.length = 0;
  const app = await launchApp({ home, resourcesPath: resources, packaged: true, version: '0.1.0' });
  try {
    await app.until('the update offered', () => app.tray.labels().includes('Restart to update to 0.2.0'));
    assert.ok(requests.some((r) => r.startsWith('/latest-linux.yml')));
    assert.ok(requests.includes('/Secretless-Desktop-0.2.0.AppImage'));
    app.tray.click('Restart to update to 0.2.0');
    await app.until('the app quit for the update', () => app.state.exited);
  } finally {
    await app.close();
    delete process.env.APPIMAGE;
  }
  assert.ok(existsSync(join(home, 'Secretless-Desktop-0.2.0.AppImage')), 'the new AppImage next to the old one');
  assert.ok(existsSync(mark), 'the installer ran it');
  assert.equal(readFileSync(join(home, 'Secretless-Desktop-0.2.0.AppImage')).toString(), artifact.toString());
});

test('packaged, a download that does not match the feed\'s sha512 is not offered', async () => {
  const { home, resources, appImage } = install();
  process.env.APPIMAGE = appImage;
  corrupt = true;
  const app = await launchApp({ home, resourcesPath: resources, packaged: true, version: '0.1.0' });
  try {
    const log = join(app.stateDir, 'logs', 'main.log');
    await app.until('the failed check in the log', () => existsSync(log) && /sha512 checksum mismatch/.test(readFileSync(log, 'utf8')));
    assert.ok(!app.tray.labels().some((l) => l.startsWith('Restart to update')));
  } finally {
    await app.close();
    delete process.env.APPIMAGE;
    corrupt = false;
  }
});
