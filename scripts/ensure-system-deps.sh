#!/usr/bin/env bash
# Make sure the system (Debian) packages a make target needs are present.
#
# Usage: scripts/ensure-system-deps.sh NAME...
#   NAME is one of: chromium, postgresql, wrk, npm
#
# Why a script: CI runs on a fresh clone, possibly on a fresh machine, as root,
# so the project itself has to install what it needs. A developer who is not
# root gets a clear message naming the package instead of a confusing failure
# deep inside the test suite.
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 chromium|postgresql|wrk|npm ..." >&2
  exit 2
fi

# present NAME -> exit 0 when the tool is already installed.
present() {
  case "$1" in
    chromium) [[ -x /usr/bin/chromium ]] ;;
    # Any installed server major version will do; with-postgres.sh picks the newest.
    postgresql) compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null ;;
    wrk) command -v wrk >/dev/null 2>&1 ;;
    npm) command -v npm >/dev/null 2>&1 ;;
    *)
      echo "ensure-system-deps: unknown dependency '$1'" >&2
      exit 2
      ;;
  esac
}

# apt package(s) that provide NAME.
packages_for() {
  case "$1" in
    npm) echo "nodejs npm" ;;
    *) echo "$1" ;;
  esac
}

missing=()
for dep in "$@"; do
  if ! present "$dep"; then
    # Word splitting is intended: one name may map to several packages.
    # shellcheck disable=SC2207
    missing+=($(packages_for "$dep"))
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "Missing system package(s): ${missing[*]}" >&2
  echo "Install them first, e.g.: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "Installing system package(s): ${missing[*]}"
# Non-interactive: CI has no stdin, and package prompts (tzdata etc.) would hang.
export DEBIAN_FRONTEND=noninteractive
# Update once, right before installing: a fresh machine has stale or empty lists.
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null

# Verify, so a package name that no longer provides the tool fails loudly here.
for dep in "$@"; do
  if ! present "$dep"; then
    echo "ensure-system-deps: '$dep' still missing after apt-get install" >&2
    exit 1
  fi
done
