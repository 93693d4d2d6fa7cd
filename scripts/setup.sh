#!/usr/bin/env bash
# Set-up for a fresh machine that has only Node 20 and npm: installs pnpm (pinned in
# package.json's packageManager), then the workspace. better-sqlite3 compiles from source
# (about a minute) against Node's own headers.
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(node -p "require('./package.json').packageManager.split('@')[1]")
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$want" ]; then
  echo "setup: installing pnpm@$want with npm" >&2
  npm install --global "pnpm@$want" --no-fund --no-audit >/dev/null
fi

# node-gyp must build against the installed Node's headers: pnpm does not pass ~/.npmrc's
# nodedir on, and this machine cannot download headers.
if [ -d /usr/include/node ] && [ -z "${npm_config_nodedir:-}" ]; then
  export npm_config_nodedir=/usr
fi

pnpm install --frozen-lockfile
