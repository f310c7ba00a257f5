#!/bin/sh
# Shutdown of the rocks test OS (busybox init runs this before it reboots or powers off).
echo "ROCKS-TESTOS: shutting down" > /dev/console
kill -15 -1 2>/dev/null; sleep 1; kill -9 -1 2>/dev/null
swapoff -a 2>/dev/null
sync
umount -a -r 2>/dev/null
mount -o remount,ro / 2>/dev/null
sync
