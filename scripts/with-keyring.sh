#!/usr/bin/env bash
# Run a command against a throwaway, unlocked gnome-keyring on a private D-Bus session:
#   bash scripts/with-keyring.sh node --test dist/test/integration/keychain.test.js
# HOME, XDG_* and the session bus all point into a temp dir, so the command can never
# read or write the user's real keychain, even when a desktop session is running.
# Exits with the command's exit code.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 <command> [args...]" >&2
  exit 2
fi
for tool in dbus-run-session gnome-keyring-daemon; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "with-keyring: '$tool' not found (apt-get install dbus gnome-keyring)" >&2
    exit 127
  fi
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/secretless-keyring.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/home" "$tmp/data" "$tmp/config" "$tmp/cache" "$tmp/run"
chmod 700 "$tmp/run"

# Our own runtime dir matters: gnome-keyring finds a running daemon through
# $XDG_RUNTIME_DIR/keyring and would otherwise unlock the real one.
export HOME="$tmp/home"
export XDG_DATA_HOME="$tmp/data"
export XDG_CONFIG_HOME="$tmp/config"
export XDG_CACHE_HOME="$tmp/cache"
export XDG_RUNTIME_DIR="$tmp/run"
unset DBUS_SESSION_BUS_ADDRESS GNOME_KEYRING_CONTROL SSH_AUTH_SOCK

# Inside the private bus: start the daemon (it creates and unlocks a fresh "login"
# keyring with this throwaway password), run the command, then stop the daemon by
# the pid the bus reports for the org.freedesktop.secrets name.
inner='
set -u
if ! printf %s throwaway-keyring-password |
  gnome-keyring-daemon --unlock --components=secrets >/dev/null; then
  echo "with-keyring: gnome-keyring-daemon failed to start" >&2
  exit 125
fi
rc=0
"$@" || rc=$?
pid="$(dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
  org.freedesktop.DBus.GetConnectionUnixProcessID string:org.freedesktop.secrets 2>/dev/null |
  awk "/uint32/ { print \$2 }")" || true
if [ -n "${pid:-}" ]; then kill "$pid" 2>/dev/null || true; fi
exit "$rc"
'

rc=0
dbus-run-session -- bash -c "$inner" with-keyring "$@" || rc=$?
exit "$rc"
