// The desktop shell's plain decisions (electron/desktop-rules.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allowExternal, allowPermission, appPaths, autostartEntry, autostartPath, closeAction, launchedHidden } from '../../electron/desktop-rules.js';

test('external URLs: only configured issuers\' pages (https, or http on loopback) and login URLs the broker returned', () => {
  const issuers = ['https://login.example.com/tenant/v2.0', 'http://127.0.0.1:8080'];
  assert.equal(allowExternal('https://login.example.com/tenant/oauth2/authorize?x=1', issuers, new Set()), true);
  assert.equal(allowExternal('http://127.0.0.1:8080/auth?code_challenge=x', issuers, new Set()), true, 'loopback http issuer');
  assert.equal(allowExternal('http://login.example.com/authorize', issuers, new Set()), false, 'http to an https issuer');
  assert.equal(allowExternal('https://evil.example/login', issuers, new Set()), false);
  assert.equal(allowExternal('https://microsoft.com/devicelogin', issuers, new Set(['https://microsoft.com/devicelogin'])), true);
  assert.equal(allowExternal('file:///etc/passwd', issuers, new Set()), false);
  assert.equal(allowExternal('javascript:alert(1)', issuers, new Set(['javascript:alert(1)'])), false);
  assert.equal(allowExternal('http://192.168.1.5/auth', ['http://192.168.1.5'], new Set()), false, 'plain http off loopback is never a login page');
});

test('permissions: clipboard writes only', () => {
  assert.equal(allowPermission('clipboard-sanitized-write'), true);
  for (const p of ['media', 'geolocation', 'notifications', 'openExternal', 'clipboard-read']) assert.equal(allowPermission(p), false, p);
});

test('paths: one naming rule, the broker\'s config and state dirs, in dev and packaged builds', () => {
  const p = appPaths({ env: { XDG_CONFIG_HOME: '/c', XDG_STATE_HOME: '/s' }, platform: 'linux', homedir: '/h' });
  assert.deepEqual(p, { userData: '/c/secretless-desktop', state: '/s/secretless-desktop', logs: '/s/secretless-desktop/logs', brokerLog: '/s/secretless-desktop/logs/broker.log', mainLog: '/s/secretless-desktop/logs/main.log' });
});

test('autostart: an XDG entry that starts hidden, paths with spaces quoted', () => {
  const entry = autostartEntry(['/opt/Secretless Desktop/secretless-desktop-app']);
  assert.match(entry, /^Exec="\/opt\/Secretless Desktop\/secretless-desktop-app" --hidden$/m);
  assert.match(entry, /^Type=Application$/m);
  assert.equal(autostartPath({ XDG_CONFIG_HOME: '/x' }, '/h'), '/x/autostart/secretless-desktop.desktop');
  assert.equal(autostartPath({ XDG_CONFIG_HOME: 'relative' }, '/h'), '/h/.config/autostart/secretless-desktop.desktop');
  assert.equal(launchedHidden(['--hidden'], false), true);
  assert.equal(launchedHidden([], true), true);
  assert.equal(launchedHidden(['-f', 'x.yml'], false), false);
});

test('closing without a tray minimises', () => {
  assert.equal(closeAction(true), 'hide');
  assert.equal(closeAction(false), 'minimize');
});
