#!/usr/bin/env bash
# Builds the optional native data pump (broker/native/pump.c) into dist/broker/native/
# on Linux, with the C compiler and Node's own N-API headers. It is optional: where it
# cannot be built (no compiler, no headers, not Linux) the broker pipes in JS, and says
# so in its log. SECRETLESS_NATIVE_PUMP=0 at run time turns it off.
set -uo pipefail
cd "$(dirname "$0")/.."
out=dist/broker/native/pump.node
[ "$(uname -s)" = Linux ] || { echo "native pump: not Linux, the broker pipes in JS" >&2; exit 0; }
inc="$(node -p "require('node:path').resolve(process.execPath, '../../include/node')")"
if [ ! -f "$inc/node_api.h" ]; then
  echo "native pump: no N-API headers at $inc, the broker pipes in JS" >&2
  exit 0
fi
cc="${CC:-cc}"
command -v "$cc" >/dev/null || { echo "native pump: no C compiler ($cc), the broker pipes in JS" >&2; exit 0; }
mkdir -p "$(dirname "$out")"
if ! "$cc" -O2 -Wall -Wextra -Werror -std=gnu11 -shared -fPIC -pthread -I"$inc" -o "$out.tmp" broker/native/pump.c; then
  rm -f "$out.tmp"
  echo "native pump: the build failed, the broker pipes in JS" >&2
  exit 0
fi
mv "$out.tmp" "$out"
