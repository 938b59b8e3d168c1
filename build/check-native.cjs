// electron-builder beforePack hook: the OS keychain binding is a native module
// (@napi-rs/keyring-<platform>-<arch>), and npm installs only the current machine's one.
// Packaging for another platform would ship an app whose keychain provider cannot load:
// fail the build instead. Build each platform on that platform after its own `npm ci`.
const { existsSync, readdirSync } = require('node:fs');
const { join } = require('node:path');

const ARCH = { 0: 'ia32', 1: 'x64', 2: 'armv7l', 3: 'arm64', 4: 'universal' };

/** The binding package names that fit a target: linux-x64-gnu, darwin-arm64, win32-x64-msvc… */
function bindingNames(platform, arch) {
  if (platform === 'linux') return [`keyring-linux-${arch}-gnu`, `keyring-linux-${arch}-musl`];
  if (platform === 'darwin') return arch === 'universal' ? ['keyring-darwin-universal'] : [`keyring-darwin-${arch}`, 'keyring-darwin-universal'];
  if (platform === 'win32') return [`keyring-win32-${arch}-msvc`];
  return [];
}

function checkNative(root, platform, arch) {
  const dir = join(root, 'node_modules', '@napi-rs');
  const present = existsSync(dir) ? readdirSync(dir) : [];
  const wanted = bindingNames(platform, arch);
  if (!wanted.some((n) => present.includes(n))) {
    throw new Error(
      `packaging for ${platform}-${arch}, but node_modules has no @napi-rs/${wanted.join(' or @napi-rs/')} ` +
        `(found: ${present.filter((n) => n.startsWith('keyring-')).join(', ') || 'none'}): run \`npm ci\` on ${platform}-${arch} and package there`,
    );
  }
}

module.exports = async function beforePack(context) {
  checkNative(context.packager.projectDir, context.electronPlatformName, ARCH[context.arch] ?? String(context.arch));
};
module.exports.checkNative = checkNative;
