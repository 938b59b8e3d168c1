# Sourced by the scripts: ensure_debian_packages STRICT WHAT=PACKAGE...
# WHAT is a command on PATH, an absolute file path, `initdb` (PostgreSQL's server
# binaries live outside PATH) or `javac` (a JDK). Missing packages are installed with
# apt-get when root; otherwise the exact command is printed, and with STRICT=strict the
# caller fails.
ensure_debian_packages() {
  local strict=$1
  shift
  local missing=() pair what pkg
  for pair in "$@"; do
    what=${pair%%=*}
    pkg=${pair#*=}
    case $what in
      initdb) ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=("$pkg") ;;
      /*) [ -e "$what" ] || missing+=("$pkg") ;;
      *) command -v "$what" >/dev/null 2>&1 || missing+=("$pkg") ;;
    esac
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local pkgs
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: $pkgs" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  elif [ "$strict" = strict ]; then
    echo "missing Debian packages; run as root: apt-get install -y $pkgs" >&2
    return 1
  else
    echo "missing Debian packages (what needs them is skipped); as root: apt-get install -y $pkgs" >&2
  fi
}
