#!/usr/bin/env bash
# The boot tests' assets (Debian's kernel, the test installer's stage 1 and stage 2 images, the
# test OS RPMs), built and cached by scripts/e2e_assets.py; prints KERNEL=, INITRD=, STAGE2=
# and TESTOS=. Needs the project's venv (pykickstart goes into the installer image).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${ROCKS_PYTHON:-$here/../.venv/bin/python}
[ -x "$py" ] || py=python3
exec "$py" "$here/e2e_assets.py" "$@"
