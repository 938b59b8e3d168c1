#!/usr/bin/env bash
# `npm start`: build, then start the desktop app: the Electron tray app when there is a
# display and the Electron binary is installed, otherwise the broker headless with the
# same UI in a browser (`serve --ui`, which prints the URL to open). Both use the user's
# config (./secretless.yml, else the user config dir, created with an example on first
# run). Extra arguments go to the broker (e.g. `npm start -- -f my.yml --watch`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npx tsc -p tsconfig.json
# The native data pump (Linux; optional: without it the broker pipes in JS).
bash scripts/build-native.sh
npx vite build -c renderer/vite.config.ts

has_display() {
  case "$(uname -s)" in
    Darwin | MINGW* | MSYS* | CYGWIN*) return 0 ;;
  esac
  [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]
}
# The electron npm package throws when its binary was not downloaded.
electron_binary() {
  node -e "process.stdout.write(require('electron'))" 2>/dev/null
}

if has_display && bin="$(electron_binary)" && [ -x "$bin" ]; then
  npx tsc -p electron/tsconfig.json
  exec "$bin" dist/electron/main.js "$@"
fi
if has_display; then
  echo "npm start: the Electron binary is not installed; running the UI in your browser instead" >&2
else
  echo "npm start: no display; running the UI in your browser instead" >&2
fi
exec ./bin/secretless-desktop.js serve --ui "$@"
