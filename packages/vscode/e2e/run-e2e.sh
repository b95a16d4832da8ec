#!/usr/bin/env bash
# End-to-end tests of the extension in a real VS Code (code-server), headless:
#   build the .vsix -> fresh profile -> install it -> [A] UI test driven by playwright-core and
#   Debian's chromium -> [B] the extension's mocha suite inside the extension host -> [C] the web
#   build and its suite inside the browser's web worker extension host.
# Prints one closing line "e2e: N passed, N failed" (the phases added up).
# Without chromium or code-server it says why and skips; under CI=true that is a failure.
# env: PORT (default 18731), E2E_NO_INSTALL=1 (do not install, only use what is there),
#      EROFS_KIT_E2E_ARTIFACTS (where screenshots and logs go; default a fresh /tmp folder)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ext=$(cd "$here/.." && pwd)
repo=$(cd "$ext/../.." && pwd)
port=${PORT:-18731}

skip() {
  echo "################################################################" >&2
  echo "e2e: SKIPPED: $*" >&2
  echo "################################################################" >&2
  if [ "${CI:-}" = true ]; then echo "e2e: under CI=true a skipped e2e run is a failure"; echo "e2e: 0 passed, 1 failed"; exit 1; fi
  exit 0
}

if [ "${E2E_NO_INSTALL:-}" = 1 ]; then
  cache=${EROFS_KIT_E2E_CACHE:-$HOME/.cache/erofs-kit-e2e}
  install=$(ls -d "$cache"/code-server-*/ 2>/dev/null | head -1)
  install=${install%/}
  [ -n "$install" ] && [ -f "$install/.installed" ] || skip "code-server is not installed under $cache (run e2e/install-code-server.sh)"
else
  install=$("$here/install-code-server.sh" | tail -1) || skip "install-code-server.sh failed (see above)"
fi
node24="$install/node/node_modules/node/bin"
code_server="$install/code-server/node_modules/.bin/code-server"
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || skip "no chromium at $chromium (apt-get install chromium)"
[ -x "$code_server" ] || skip "no code-server at $code_server"
[ -x "$node24/node" ] || skip "no node 24 at $node24"
export CHROMIUM=$chromium

run=${EROFS_KIT_E2E_ARTIFACTS:-$(mktemp -d /tmp/vsc-e2e-XXXXXX)}
mkdir -p "$run/ud/User" "$run/exts" "$run/ws" "$run/shots" "$run/tmp"
echo "e2e: artifacts in $run"

t0=$(date +%s.%N)
lap() { printf '[%5.1fs] %s\n' "$(echo "$(date +%s.%N) - $t0" | bc)" "$*"; }

(cd "$ext" && npm run --silent package >"$run/package.log" 2>&1) || { cat "$run/package.log"; echo "e2e: 0 passed, 1 failed"; exit 1; }
vsix="$ext/dist/erofs-kit-vscode.vsix"
lap "packaged $(basename "$vsix") ($(stat -c %s "$vsix") bytes)"

# The workspace: a good image, a corrupt one (nlink), and a multi-root workspace file, so that
# adding an image folder does not reload the window.
cp "$repo/fixtures/basic-4k.erofs" "$run/ws/"
node -e '
const { corruptNlink } = require(process.argv[1]);
const fs = require("node:fs");
corruptNlink(new Uint8Array(fs.readFileSync(process.argv[2]))).then((b) => fs.writeFileSync(process.argv[3], b));
' "$ext/dist/test/corrupt.js" "$repo/fixtures/basic-4k.erofs" "$run/ws/nlink-corrupt.erofs" || { echo "e2e: 0 passed, 1 failed"; exit 1; }
# An OCI image layout (two gzip layers, tag v1) in a folder of the workspace: the OCI Images view lists it.
node -e 'const { writeOciLayout, TWO_LAYERS } = require(process.argv[1]); writeOciLayout(process.argv[2], TWO_LAYERS, { tag: "v1" });' \
  "$ext/dist/test/oci-layout.js" "$run/ws/oci-image" || { echo "e2e: 0 passed, 1 failed"; exit 1; }
# A 100,000-file tar (about 100 MiB): its tar index takes seconds to build, long enough to cancel.
node -e 'const { bigTar } = require(process.argv[1]); bigTar(100000, 5000).then((b) => require("node:fs").writeFileSync(process.argv[2], b));' \
  "$ext/dist/test/bigtar.js" "$run/ws/big.tar" || { echo "e2e: 0 passed, 1 failed"; exit 1; }
printf '{ "folders": [ { "path": "ws" } ], "settings": {} }\n' >"$run/e2e.code-workspace"
cat >"$run/ud/User/settings.json" <<'JSON'
{ "workbench.startupEditor": "none", "telemetry.telemetryLevel": "off", "security.workspace.trust.enabled": false,
  "extensions.autoCheckUpdates": false, "extensions.autoUpdate": false, "update.mode": "none", "git.enabled": false,
  "workbench.secondarySideBar.defaultVisibility": "hidden", "chat.disableAIFeatures": true,
  "workbench.tips.enabled": false, "editor.hover.delay": 100 }
JSON
# Someone else's server on the port would answer our health check: move to a free one.
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break; port=$((port + 1)); done
printf 'bind-addr: 127.0.0.1:%s\nauth: none\ncert: false\n' "$port" >"$run/config.yaml"
cs=(env PATH="$node24:$PATH" EROFS_KIT_E2E_TMP="$run/tmp" EROFS_KIT_FIXTURES="$repo/fixtures" "$code_server" --config "$run/config.yaml" --user-data-dir "$run/ud" --extensions-dir "$run/exts")

cs_pid=
start_server() {
  "${cs[@]}" --disable-telemetry --disable-update-check --disable-workspace-trust --disable-getting-started-override --ignore-last-opened "$@" >>"$run/code-server.log" 2>&1 &
  cs_pid=$!
  for _ in $(seq 1 300); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && return 0
    kill -0 "$cs_pid" 2>/dev/null || break
    sleep 0.2
  done
  echo "code-server did not come up on port $port:"; tail -20 "$run/code-server.log"; return 1
}
stop_server() {
  if [ -n "$cs_pid" ]; then kill "$cs_pid" 2>/dev/null; wait "$cs_pid" 2>/dev/null; fi
  cs_pid=
}
trap stop_server EXIT

"${cs[@]}" --install-extension "$vsix" >"$run/install.log" 2>&1 || { cat "$run/install.log"; echo "e2e: 0 passed, 1 failed"; exit 1; }
lap "installed the .vsix into a fresh profile"

passed=0 failed=0
count() { # adds the last "N passed, N failed" line of a log
  local line; line=$(grep -Eo '[0-9]+ passed, [0-9]+ failed' "$1" | tail -1)
  if [ -z "$line" ]; then failed=$((failed + 1)); echo "e2e: $2 printed no result line (counted as one failure)"; return; fi
  passed=$((passed + $(echo "$line" | cut -d' ' -f1))); failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
}

# [A] the installed .vsix, driven through the UI. (Toasts are only shown without the test driver flag.)
if start_server; then
  lap "[A] code-server up"
  node "$here/ui.mjs" "http://127.0.0.1:$port" "$run/e2e.code-workspace" "$run/ws" "$run/shots" 2>&1 | tee "$run/ui.log"
  count "$run/ui.log" "[A] UI test"
else
  failed=$((failed + 1))
fi
stop_server
lap "[A] UI test done"

# A suite inside an extension host: NAME, SUITE_JS, LOG. The test driver flag makes the
# workbench honour the payload that names the extension under development and its tests.
suite() {
  if start_server --vscode-option enable-smoke-test-driver; then
    lap "$1 code-server up (test driver)"
    node "$here/exthost.mjs" "http://127.0.0.1:$port" "$run/ws" "$ext" "$2" 2>&1 | tee "$3"
    count "$3" "$1"
  else
    failed=$((failed + 1))
  fi
  stop_server
  lap "$1 done"
}

# [B] the mocha suite in the extension host, with the extension loaded from its folder.
suite "[B] extension-host suite" "$ext/dist/test/suite.js" "$run/exthost.log"

# [C] the web build (dist/web/extension.js) in the browser's web worker extension host: the
# workbench picks an extension's host from its kind, and the `remote.extensionKind` setting
# makes it "web" (this workbench does not read the payload key extensionDevelopmentKind). The
# test runner stays in the Node host; test/web-suite drives the extension through commands.
node -e 'const f = process.argv[1]; const s = JSON.parse(require("node:fs").readFileSync(f, "utf8")); s["remote.extensionKind"] = { "erofs-kit.erofs-kit-vscode": ["web"] }; require("node:fs").writeFileSync(f, JSON.stringify(s, null, 2));' "$run/ud/User/settings.json"
suite "[C] web worker host suite" "$ext/dist/test/web-suite.js" "$run/web.log"
rm -rf "$run/tmp" # the suite's scratch files (a 100 MiB tar among them); screenshots and logs stay
lap "screenshots in $run/shots"
echo "e2e: $passed passed, $failed failed"
[ "$failed" = 0 ]
