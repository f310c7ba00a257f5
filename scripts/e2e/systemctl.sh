#!/bin/sh
# systemctl of the rocks test OS (a stand-in: there is no systemd). Implements what kickstart
# %post scripts run offline, the way systemctl does in a chroot: enable/disable (the [Install]
# WantedBy= links under /etc/systemd/system), is-enabled, set-default/get-default; start, stop,
# restart and try-restart do nothing when the system is not running systemd (always, here).
set -e
etc=/etc/systemd/system
find_unit() {
  for d in /etc/systemd/system /usr/lib/systemd/system; do
    [ -f "$d/$1" ] && { echo "$d/$1"; return 0; }
  done
  return 1
}
norm() { case "$1" in *.*) echo "$1" ;; *) echo "$1.service" ;; esac; }
verb=$1; [ $# -gt 0 ] && shift
case "$verb" in
  enable|disable|is-enabled)
    rc=0
    for u in "$@"; do
      case "$u" in --*) continue ;; esac
      u=$(norm "$u")
      f=$(find_unit "$u") || { echo "Failed to $verb unit: Unit file $u does not exist." >&2; rc=1; continue; }
      for t in $(sed -n 's/^WantedBy=//p' "$f"); do
        case "$verb" in
          enable) mkdir -p "$etc/$t.wants"; ln -sf "$f" "$etc/$t.wants/$u"
                  echo "Created symlink $etc/$t.wants/$u -> $f." ;;
          disable) rm -f "$etc/$t.wants/$u" ;;
          is-enabled) [ -e "$etc/$t.wants/$u" ] && { echo enabled; continue 2; } ;;
        esac
      done
      [ "$verb" = is-enabled ] && { echo disabled; rc=1; }
    done
    exit $rc ;;
  set-default)
    ln -sf "/usr/lib/systemd/system/$1" "$etc/default.target"; exit 0 ;;
  get-default)
    readlink "$etc/default.target" 2>/dev/null | sed 's|.*/||' || echo multi-user.target; exit 0 ;;
  start|stop|restart|try-restart|reload|daemon-reload|is-active)
    echo "System has not been booted with systemd as init system (PID 1). Can't operate." >&2
    [ "$verb" = try-restart ] || [ "$verb" = daemon-reload ] && exit 0
    exit 1 ;;
  *) echo "systemctl (rocks test OS stand-in): $verb is not supported" >&2; exit 1 ;;
esac
