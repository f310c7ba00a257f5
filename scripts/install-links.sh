#!/usr/bin/env bash
# Put `rocks` on PATH and its manual page where man finds it (run by scripts/setup.sh):
#   $PREFIX/bin/rocks              -> a symlink to the venv's rocks (never replaces a real file)
#   $PREFIX/share/man/man8/rocks.8 <- `rocks report manpage` (generated from the command registry)
# PREFIX defaults to /usr/local; ROCKS_PREFIX= (empty) skips this step. Usage: install-links.sh VENV
set -euo pipefail
venv=${1:?usage: install-links.sh VENV}
prefix=${ROCKS_PREFIX-/usr/local}
[ -n "$prefix" ] || exit 0
rocks="$venv/bin/rocks"
[ -x "$rocks" ] || { echo "install-links: $rocks is missing" >&2; exit 1; }
if ! mkdir -p "$prefix/bin" "$prefix/share/man/man8" 2>/dev/null || [ ! -w "$prefix/bin" ]; then
  echo "install-links: $prefix is not writable; run as root, or use $rocks directly" >&2
  exit 0
fi
link="$prefix/bin/rocks"
if [ -e "$link" ] && [ ! -L "$link" ]; then
  echo "install-links: $link exists and is not a symlink; left alone" >&2
else
  ln -sfn "$rocks" "$link"
fi
page="$prefix/share/man/man8/rocks.8"
ROCKS_CONFIG= "$rocks" report manpage > "$page.tmp"
mv -f "$page.tmp" "$page"
echo "install-links: $link -> $rocks; man page $page"
