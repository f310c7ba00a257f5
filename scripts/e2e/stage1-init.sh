#!/bin/sh
# Stage 1 of the rocks test installer, what dracut is to Anaconda: load the drivers, configure
# the interface that booted with DHCP, fetch the stage 2 image (inst.stage2, else
# <inst.repo>/images/install.img) over HTTP, mount it as the root of the installer and run the
# kickstart-executing installer (python3 -m rocks.installer) there. It then does what the
# installer asks (reboot, poweroff, halt); on any failure it powers the machine off, so a
# test sees the VM end instead of an installer waiting for a human.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=0755 tmpfs /run
say() { echo "ROCKS-INSTALLER: $*"; }
off() { sync; poweroff -f; sleep 30; }
die() { say "stage1 failed: $*"; say "result failed"; off; }
arg() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" /proc/cmdline | sed "s/^'//; s/'\$//"; }
say "stage1 at $(cut -d' ' -f1 /proc/uptime)s"
while read -r m; do insmod "/lib/modules/$m" 2>/dev/null; done < /lib/modules/load-order
ip link set lo up

# the interface that booted (pxelinux IPAPPEND 2: BOOTIF=01-aa-bb-..), else the first one
BOOTIF=$(arg BOOTIF)
WANT=$(echo "$BOOTIF" | sed 's/^01-//; s/-/:/g')
IF=""
for i in $(seq 100); do
  for d in /sys/class/net/*; do
    n=${d##*/}; [ "$n" = lo ] && continue
    if [ -z "$WANT" ] || [ "$(cat "$d/address")" = "$WANT" ]; then IF=$n; break; fi
  done
  [ -n "$IF" ] && break; sleep 0.1
done
[ -n "$IF" ] || die "no network interface"
ip link set "$IF" up
# e1000 reports carrier ~2 s after link up; DHCP before that is lost
for i in $(seq 60); do [ "$(cat "/sys/class/net/$IF/carrier" 2>/dev/null)" = 1 ] && break; sleep 0.1; done
udhcpc -i "$IF" -s /etc/udhcpc.script -n -q -t 10 -T 1 -A 1 >/dev/null 2>&1 || die "no DHCP lease on $IF"
. /run/lease
say "dhcp $IF mac=$(cat "/sys/class/net/$IF/address") ip=$lease_ip host=$lease_host"
{ echo "iface=$IF"; echo "mac=$(cat "/sys/class/net/$IF/address")"; echo "ip=$lease_ip"; } > /run/installer-net

STAGE2=$(arg inst.stage2)
[ -n "$STAGE2" ] || STAGE2="$(arg inst.repo)/images/install.img"
# busybox wget -T segfaults in 1.35: every transfer is bounded with timeout(1) instead
timeout 300 wget -q -O /run/install.img "$STAGE2" || die "cannot fetch $STAGE2"
say "stage2 $(wc -c < /run/install.img) bytes at $(cut -d' ' -f1 /proc/uptime)s"
mkdir -p /run/stage2 /run/rw /run/root
mount -t squashfs -o ro,loop /run/install.img /run/stage2 || die "cannot mount the stage2 image"
mount -t tmpfs -o mode=0755 tmpfs /run/rw
mkdir -p /run/rw/upper /run/rw/work
mount -t overlay overlay -o lowerdir=/run/stage2,upperdir=/run/rw/upper,workdir=/run/rw/work /run/root \
  || die "cannot mount the installer root"
# inst.updates= (as Anaconda's): a gzip'd cpio unpacked over the installer root
UPDATES=$(arg inst.updates)
if [ -n "$UPDATES" ]; then
  timeout 120 wget -q -O /run/updates.img "$UPDATES" || die "cannot fetch $UPDATES"
  (cd /run/root && zcat /run/updates.img | cpio -idmu 2>/dev/null) || die "bad updates image"
  say "updates from $UPDATES"
fi
for d in proc sys dev run; do mkdir -p "/run/root/$d"; mount --bind "/$d" "/run/root/$d"; done
mount -t tmpfs -o mode=1777 tmpfs /run/root/tmp

chroot /run/root /usr/bin/env -i PATH=/usr/sbin:/usr/bin HOME=/root LANG=C.UTF-8 TERM=dumb \
  PYTHONPATH=/usr/lib/rocks-installer PYTHONDONTWRITEBYTECODE=1 \
  /usr/bin/python3 -m rocks.installer
rc=$?
action=$(cat /run/installer-action 2>/dev/null)
say "installer exited $rc at $(cut -d' ' -f1 /proc/uptime)s, action ${action:-poweroff}"
[ "$rc" = 0 ] || action=poweroff
# the installed system is unmounted by the installer; drop our own mounts before rebooting
sync
case "$action" in
  reboot) say "result ok"; reboot -f ;;
  halt) say "result ok"; halt -f ;;
  *) [ "$rc" = 0 ] && say "result ok" || say "result failed"; off ;;
esac
sleep 30
