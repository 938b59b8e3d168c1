#!/usr/bin/env bash
# Installs what the broker and its tests need on a fresh Debian machine: Debian
# packages via apt-get (as root; otherwise prints the command and fails), then the
# npm packages when node_modules is missing or older than package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

# command (or file) -> Debian package
declare -A needed=(
  [initdb]=postgresql
  [psql]=postgresql-client
  [pgbench]=postgresql-client
  [openssl]=openssl
  [dbus-run-session]=dbus-daemon
  [gnome-keyring-daemon]=gnome-keyring
  [runuser]=util-linux
  [ss]=iproute2
  [java]=openjdk-17-jdk-headless
  [/usr/share/java/postgresql.jar]=libpostgresql-jdbc-java
)
missing=()
for cmd in "${!needed[@]}"; do
  if [ "$cmd" = initdb ]; then
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=("${needed[$cmd]}")
  elif [ "${cmd:0:1}" = / ]; then
    [ -e "$cmd" ] || missing+=("${needed[$cmd]}")
  elif [ "$cmd" = java ]; then
    # Single-file source launch (java Foo.java) needs a JDK, not just a JRE.
    command -v javac >/dev/null 2>&1 || missing+=("${needed[$cmd]}")
  elif ! command -v "$cmd" >/dev/null 2>&1; then
    missing+=("${needed[$cmd]}")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: $pkgs" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  else
    echo "missing Debian packages; run as root: apt-get install -y $pkgs" >&2
    exit 1
  fi
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm packages (npm ci)" >&2
  ELECTRON_SKIP_BINARY_DOWNLOAD=1 npm ci --no-audit --no-fund >&2
fi
