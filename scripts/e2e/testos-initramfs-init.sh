#!/bin/sh
# The rocks test OS initramfs (what dracut builds for a real EL kernel): load the disk and file
# system drivers, mount root= read-only at /sysroot and switch to its /sbin/init.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "ROCKS-TESTOS: initramfs: $*"; }
fail() { say "$*"; say "powering off in 10 s"; sleep 10; poweroff -f; sleep 30; }
while read -r m; do insmod "/lib/modules/$m" 2>/dev/null; done < /lib/modules/load-order
root=$(sed -n 's/.*[[:space:]]root=\([^[:space:]]*\).*/\1/p' /proc/cmdline)
rootfstype=$(sed -n 's/.*[[:space:]]rootfstype=\([^[:space:]]*\).*/\1/p' /proc/cmdline)
[ -n "$root" ] || fail "no root= on the kernel command line"
dev=""
for i in $(seq 100); do
  case "$root" in
    UUID=*|LABEL=*) dev=$(findfs "$root" 2>/dev/null) ;;
    *) [ -b "$root" ] && dev=$root ;;
  esac
  [ -n "$dev" ] && break; sleep 0.1
done
[ -n "$dev" ] || fail "root device $root not found"
mkdir -p /sysroot
mount -o ro ${rootfstype:+-t $rootfstype} "$dev" /sysroot || fail "cannot mount $dev"
say "root $root is $dev at $(cut -d' ' -f1 /proc/uptime)s"
for d in dev proc sys; do mount --move "/$d" "/sysroot/$d" 2>/dev/null || umount "/$d"; done
exec switch_root /sysroot /sbin/init
