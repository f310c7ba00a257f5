#!/usr/bin/env bash
# Idempotent setup on Debian 12 as root: apt packages, the venv, the project with its test extras.
# Safe to run again: it installs only what is missing and reuses the venv.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
VENV=${ROCKS_VENV:-$here/.venv}

want=$(grep -vE '^\s*(#|$)' scripts/apt-packages.txt | tr '\n' ' ')
missing=()
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages (${missing[*]}); run as root" >&2; exit 1
  fi
  # Keep the postgresql postinst from creating a cluster we never use.
  mkdir -p /etc/postgresql-common
  grep -qs '^create_main_cluster = false' /etc/postgresql-common/createcluster.conf ||
    echo 'create_main_cluster = false' >> /etc/postgresql-common/createcluster.conf
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
stamp="$VENV/.rocks-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[test]"
  touch "$stamp"
fi
# Bytecode for the project: an editable install has none, and where PYTHONDONTWRITEBYTECODE is
# set every `rocks` process would recompile what it imports (cheap when nothing changed).
"$VENV/bin/python" -m compileall -q -j0 rocks
# `rocks` on PATH (a symlink in /usr/local/bin) and rocks(8) in /usr/local/share/man/man8
bash scripts/install-links.sh "$VENV"
echo "setup: ok ($VENV)"
