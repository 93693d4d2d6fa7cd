#!/usr/bin/env bash
# Set-up for a fresh machine that has only Node 20 and npm: installs pnpm (pinned in
# package.json's packageManager), then the workspace. better-sqlite3 and zstd-napi compile from
# source (a minute or two) against Node's own headers.
#
# One line per step on the terminal; the installers' own output (node-gyp's compiler lines,
# pnpm's progress) goes to setup.log at the repository root. A failed step prints the end of it.
set -euo pipefail
cd "$(dirname "$0")/.."

log="$PWD/setup.log"
: >"$log"

step() {
  local what=$1
  shift
  local started=$SECONDS
  printf 'setup: %s … ' "$what" >&2
  if "$@" >>"$log" 2>&1; then
    printf 'ok (%ss)\n' "$((SECONDS - started))" >&2
  else
    local code=$?
    printf 'FAILED (exit %s)\n\nsetup: the last lines of %s:\n' "$code" "$log" >&2
    tail -n 40 "$log" >&2
    exit "$code"
  fi
}

want=$(node -p "require('./package.json').packageManager.split('@')[1]")
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$want" ]; then
  step "installing pnpm@$want with npm" npm install --global "pnpm@$want" --no-fund --no-audit
fi

# node-gyp must build against the installed Node's headers: pnpm does not pass ~/.npmrc's
# nodedir on, and this machine cannot download headers.
if [ -d /usr/include/node ] && [ -z "${npm_config_nodedir:-}" ]; then
  export npm_config_nodedir=/usr
fi

step "installing the workspace (compiles better-sqlite3 and zstd-napi on a cold machine)" \
  pnpm install --frozen-lockfile --reporter=append-only
if grep -q 'Unsupported engine' "$log"; then
  echo "setup: warning: a dependency does not support this Node ($(node --version)); see $log" >&2
fi
echo "setup: done (full output in setup.log)" >&2
