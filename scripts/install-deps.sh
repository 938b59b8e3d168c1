#!/usr/bin/env bash
# Installs what the broker and its tests need on a fresh Debian machine: Debian
# packages via apt-get (as root; otherwise prints the command and fails), then the
# npm packages when node_modules is missing or older than package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib/debian-packages.sh
# Single-file source launch (java Foo.java, the JDBC test) needs a JDK: check javac.
ensure_debian_packages strict \
  initdb=postgresql psql=postgresql-client pgbench=postgresql-client openssl=openssl \
  dbus-run-session=dbus-daemon gnome-keyring-daemon=gnome-keyring runuser=util-linux ss=iproute2 \
  javac=openjdk-17-jdk-headless /usr/share/java/postgresql.jar=libpostgresql-jdbc-java \
  mariadb-install-db=mariadb-server /usr/sbin/mariadbd=mariadb-server mariadb=mariadb-client \
  mariadb-slap=mariadb-client /usr/sbin/sshd=openssh-server ssh=openssh-client \
  /usr/lib/openssh/sftp-server=openssh-sftp-server git=git chromium=chromium \
  ssh-keygen=openssh-client ssh-add=openssh-client ssh-agent=openssh-client scp=openssh-client \
  prlimit=util-linux getconf=libc-bin dpkg=dpkg dpkg-query=dpkg \
  secret-tool=libsecret-tools tmux=tmux redis-server=redis-server redis-cli=redis-tools redis-benchmark=redis-tools \
  mount=mount umount=mount mkfifo=coreutils curl=curl useradd=passwd id=coreutils getent=libc-bin python3=python3-minimal \
  /usr/sbin/nginx=nginx /usr/bin/aws=awscli \
  /usr/lib/rabbitmq/bin/rabbitmq-server=rabbitmq-server epmd=erlang-base \
  /usr/bin/python3=python3 /usr/lib/python3/dist-packages/prometheus_client/parser.py=python3-prometheus-client \
  cc=gcc /usr/include/linux/inet_diag.h=linux-libc-dev /usr/include/stdio.h=libc6-dev

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm packages (npm ci)" >&2
  ELECTRON_SKIP_BINARY_DOWNLOAD=1 npm ci --no-audit --no-fund >&2
fi
