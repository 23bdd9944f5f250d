#!/usr/bin/env bash
# Installs the Debian packages the tests need when they are missing: redis-server (the local stack),
# chromium and chromium-driver (the status page's browser test, tests/browser). Elsewhere it names
# what to install instead of failing obscurely.
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing ${missing[*]} (Debian packages)" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null) \
    || { echo "error: could not install ${missing[*]} with apt-get" >&2; exit 1; }
  exit 0
fi
echo "error: missing ${missing[*]}: install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}; macOS: brew install redis chromium chromedriver)" >&2
exit 1
