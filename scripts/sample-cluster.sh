#!/usr/bin/env bash
# Adds a small sample cluster with `rocks` commands: the private network 10.1.0.0/16, a frontend
# (head), four compute nodes, a login and a nas node, each with a MAC; compute-0-0 set to install.
# Idempotent: does nothing when host `head` exists. ROCKS= names the rocks executable.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ROCKS=${ROCKS:-$here/.venv/bin/rocks}

if "$ROCKS" list host head >/dev/null 2>&1; then
    echo "sample cluster: already there"
    exit 0
fi
"$ROCKS" add network private subnet=10.1.0.0 netmask=255.255.0.0 zone=local servedns=yes pxe=yes

add() {  # add NAME APPLIANCE IP MAC
    "$ROCKS" add host "$1" appliance="$2"
    "$ROCKS" add host interface "$1" eth0 mac="$4" ip="$3" network=private
}
add head        frontend 10.1.1.1     52:54:00:00:01:01
add compute-0-0 compute  10.1.255.254 52:54:00:00:02:00
add compute-0-1 compute  10.1.255.253 52:54:00:00:02:01
add compute-0-2 compute  10.1.255.252 52:54:00:00:02:02
add compute-0-3 compute  10.1.255.251 52:54:00:00:02:03
add login-0-0   login    10.1.255.250 52:54:00:00:03:00
add nas-0-0     nas      10.1.255.249 52:54:00:00:04:00
"$ROCKS" set host boot compute-0-0 action=install
echo "sample cluster: 7 hosts added; compute-0-0 is set to install"
