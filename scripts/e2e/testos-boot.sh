#!/bin/sh
# System start of the rocks test OS, run by busybox init (sysinit) in place of systemd. It does
# what an EL system's early boot does with the files the installer wrote:
#   /etc/fstab                                   -> mount -a, swapon -a
#   /etc/hostname                                -> the host name
#   /etc/NetworkManager/system-connections/*     -> addresses, default route, name servers
#   /etc/systemd/system/*.target.wants/*.service -> each enabled unit's ExecStartPre/ExecStart,
#      long-running services first, then oneshot units, each group in name order (systemd
#      orders by After=; this stand-in does not read it)
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
say() { echo "ROCKS-TESTOS: $*" > /dev/console; }
[ -e /proc/mounts ] || mount -t proc proc /proc
grep -q ' /sys ' /proc/mounts || mount -t sysfs sysfs /sys
grep -q ' /dev ' /proc/mounts || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/sshd /run/lock
mount -o remount,rw /
kver=$(uname -r)
for m in $(cat /etc/rocks-test-os/modules 2>/dev/null); do modprobe "$m" 2>/dev/null; done
mount -a || say "mount -a failed"
swapon -a 2>/dev/null
[ -s /etc/hostname ] && hostname "$(cat /etc/hostname)"
say "kernel $kver, root $(awk '$2 == "/" {print $1}' /proc/mounts | tail -n1), host $(hostname)"
say "mounts: $(awk '$1 ~ /^\/dev\// {printf "%s ", $2}' /proc/mounts)"

# --- network: NetworkManager keyfiles as the installer wrote them ---------------------------
ini() {  # ini FILE SECTION KEY
  awk -F= -v s="[$2]" -v k="$3" '/^\[/ {in_s = ($0 == s)} in_s && $1 == k {sub(/^[^=]*=/, ""); print; exit}' "$1"
}
ip link set lo up
for f in /etc/NetworkManager/system-connections/*.nmconnection; do
  [ -f "$f" ] || continue
  mac=$(ini "$f" ethernet mac-address | tr 'A-F' 'a-f')
  name=$(ini "$f" connection interface-name)
  dev=""
  for i in $(seq 50); do
    for d in /sys/class/net/*; do
      n=${d##*/}
      if [ -n "$mac" ] && [ "$(cat "$d/address")" = "$mac" ]; then dev=$n; fi
      if [ -z "$mac" ] && [ "$n" = "$name" ]; then dev=$n; fi
    done
    [ -n "$dev" ] && break; sleep 0.1
  done
  if [ -z "$dev" ]; then say "network: no interface for $f"; continue; fi
  ip link set "$dev" up
  method=$(ini "$f" ipv4 method)
  if [ "$method" = manual ]; then
    addr=$(ini "$f" ipv4 address1)
    ip addr add "${addr%%,*}" dev "$dev"
    case "$addr" in *,*) ip route add default via "${addr#*,}" dev "$dev" 2>/dev/null ;; esac
    gw=$(ini "$f" ipv4 gateway)
    [ -n "$gw" ] && ip route add default via "$gw" dev "$dev" 2>/dev/null
  elif [ "$method" = auto ]; then
    udhcpc -i "$dev" -n -q -t 10 -T 1 -s /usr/lib/rocks-test-os/udhcpc.script >/dev/null 2>&1
  fi
  for ns in $(ini "$f" ipv4 dns | tr ';' ' '); do echo "nameserver $ns"; done >> /run/resolv.conf
  say "network: $dev $(ip -4 -o addr show dev "$dev" | awk '{print $4}') from ${f##*/}"
done
[ -s /run/resolv.conf ] && cp /run/resolv.conf /etc/resolv.conf

# --- enabled units ---------------------------------------------------------------------------
units() { ls /etc/systemd/system/*.target.wants/*.service 2>/dev/null | sort -t/ -k6 -u; }
unit_file() {  # the enabled link's target (a unit in /usr/lib/systemd/system or /etc/...)
  t=$(readlink -f "$1"); [ -f "$t" ] && echo "$t" || echo "$1"
}
execs() { sed -n "s/^$2=//p" "$1" | sed 's/^[-@+!]*//'; }
start_unit() {  # start_unit LINK foreground|background
  f=$(unit_file "$1"); u=${1##*/}
  execs "$f" ExecStartPre | while read -r cmd; do sh -c "$cmd" >> "/var/log/$u.log" 2>&1; done
  cmd=$(execs "$f" ExecStart | head -n1)
  [ -n "$cmd" ] || return
  if [ "$2" = foreground ]; then
    if timeout 120 sh -c "$cmd" >> "/var/log/$u.log" 2>&1; then say "unit $u: done"
    else say "unit $u: failed ($?)"; fi
  else
    setsid sh -c "exec $cmd" >> "/var/log/$u.log" 2>&1 < /dev/null &
    say "unit $u: started"
  fi
}
for link in $(units); do
  grep -q '^Type=oneshot' "$(unit_file "$link")" || start_unit "$link" background
done
for link in $(units); do
  grep -q '^Type=oneshot' "$(unit_file "$link")" && start_unit "$link" foreground
done
say "up at $(cut -d' ' -f1 /proc/uptime)s"
exit 0
