#!/usr/bin/env bash
# Installs the Debian packages the local stack needs when they are missing (redis-server).
# Elsewhere it names what to install instead of failing obscurely.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing redis-server (Debian package)" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null) \
    || { echo "error: could not install redis-server with apt-get" >&2; exit 1; }
  exit 0
fi
echo "error: redis-server is missing: install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis)" >&2
exit 1
