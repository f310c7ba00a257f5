#!/usr/bin/env bash
# Assets of the reinstall test: Debian's kernel (downloaded with `apt-get download`, unpacked with
# dpkg-deb, never installed) and the stand-in installer, a busybox initramfs whose /init does on
# the wire what Anaconda does: fetch its own kickstart with the MAC headers, read `url` and
# `%packages` (groups resolved from the served comps), download those RPMs, post the kickstart's
# own phone-home events, power off. It tests the boot chain, identity and served content, not
# Anaconda.
#   scripts/e2e-assets.sh            # prints KERNEL=<path> and INITRD=<path>
# Cache: $ROCKS_E2E_CACHE, else /var/cache/rocks-e2e when writable, else /tmp/rocks-e2e.
# Idempotent: the kernel is fetched once; the initramfs is rebuilt when this script changes.
set -euo pipefail

cache=${ROCKS_E2E_CACHE:-}
if [ -z "$cache" ]; then
  if mkdir -p /var/cache/rocks-e2e 2>/dev/null && [ -w /var/cache/rocks-e2e ]; then
    cache=/var/cache/rocks-e2e
  else
    cache=/tmp/rocks-e2e
  fi
fi
mkdir -p "$cache"
busybox=${ROCKS_E2E_BUSYBOX:-/bin/busybox}

# --- kernel -----------------------------------------------------------------------------------
kroot=$cache/kernel
if ! ls "$kroot"/boot/vmlinuz-* >/dev/null 2>&1; then
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  if [ -z "$pkg" ]; then
    apt-get update -qq
    pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  fi
  [ -n "$pkg" ] || { echo "e2e-assets: no linux-image package known to apt" >&2; exit 1; }
  dl=$(mktemp -d "$cache/dl.XXXXXX")
  # apt's download sandbox user (_apt) must be able to write here
  chmod 0777 "$dl"
  (cd "$dl" && apt-get download -q "$pkg" >/dev/null)
  rm -rf "$kroot.tmp"
  mkdir -p "$kroot.tmp"
  dpkg-deb -x "$dl"/*.deb "$kroot.tmp"
  rm -rf "$dl" "$kroot"
  mv "$kroot.tmp" "$kroot"
fi
kver=$(ls "$kroot/lib/modules" | head -n1)
cp -f "$kroot/boot/vmlinuz-$kver" "$cache/vmlinuz"

# --- stand-in installer initramfs -------------------------------------------------------------
stamp=$(cat "$0" "$busybox" | sha256sum | cut -c1-16)-$kver
if [ -f "$cache/initrd.img" ] && [ "$(cat "$cache/initrd.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "KERNEL=$cache/vmlinuz"
  echo "INITRD=$cache/initrd.img"
  exit 0
fi

work=$(mktemp -d "$cache/initramfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,sysimage,lib/modules}
cp "$busybox" "$work/bin/busybox"
for applet in $("$busybox" --list); do
  # the list names busybox itself: linking it would replace the binary by a self-link
  [ "$applet" = busybox ] || ln -s busybox "$work/bin/$applet"
done

# Every NIC driver of Debian's kernel is a module and the .deb has no modules.dep: load explicit
# files in dependency order (virtio first, then the Intel NICs qemu emulates).
mods="net/core/failover drivers/net/net_failover drivers/virtio/virtio_ring
drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci_legacy_dev
drivers/virtio/virtio_pci drivers/net/virtio_net drivers/net/ethernet/intel/e1000/e1000
drivers/net/ethernet/intel/e1000e/e1000e"
: > "$work/lib/modules/load-order"
for m in $mods; do
  src=$kroot/lib/modules/$kver/kernel/$m.ko
  [ -f "$src" ] || src=$(ls "$src".* 2>/dev/null | head -n1 || true)
  [ -f "$src" ] || { echo "e2e-assets: missing kernel module $m" >&2; exit 1; }
  cp "$src" "$work/lib/modules/"
  basename "$src" >> "$work/lib/modules/load-order"
done

cat > "$work/etc/udhcpc.script" <<'EOF'
#!/bin/sh
# udhcpc hook: configure the lease and remember it for /init
case "$1" in
  deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface" 2>/dev/null
    { echo "lease_ip=$ip"; echo "lease_host=$hostname"; echo "lease_server=$serverid"; } > /run/lease ;;
esac
exit 0
EOF

# The kickstart reader: awk over the kickstart text. Modes: url | packages | events.
cat > "$work/bin/ks-read" <<'EOF'
#!/bin/sh
# ks-read MODE KICKSTART
#   url      -> the `url --url=` value
#   packages -> one line per %packages entry: "group NAME", "exclude NAME" or "package NAME"
#   events   -> one line per phone-home call in %pre/%post: "pre|post URL FORM-BODY"
exec awk -v mode="$1" '
function unq(s) { gsub(/^["\047]|["\047]$/, "", s); return s }
function enc(s,   i, c, out) {
  out = ""
  for (i = 1; i <= length(s); i++) {
    c = substr(s, i, 1)
    if (c ~ /[A-Za-z0-9._~-]/) out = out c
    else if (c == " ") out = out "%20"
    else out = out sprintf("%%%02X", ord[c])
  }
  return out
}
function flush_cmd(   n, parts, i, url, body, kv, k, v) {
  if (cmd == "") return
  if (cmd ~ /^[ \t]*curl[ \t]/ && cmd ~ /\/install\/events/) {
    url = ""; body = ""
    # the --data-urlencode "key=value" arguments, in order
    rest = cmd
    while (match(rest, /--data(-urlencode)?[ \t]+"[^"]*"/)) {
      kv = substr(rest, RSTART, RLENGTH); rest = substr(rest, RSTART + RLENGTH)
      sub(/^--data(-urlencode)?[ \t]+"/, "", kv); sub(/"$/, "", kv)
      k = kv; sub(/=.*/, "", k); v = substr(kv, length(k) + 2)
      body = body (body == "" ? "" : "&") k "=" enc(v)
    }
    n = split(cmd, parts, /[ \t]+/)
    for (i = 1; i <= n; i++) if (parts[i] ~ /^https?:\/\//) url = parts[i]
    if (url != "") print section, url, body
  }
  cmd = ""
}
BEGIN { for (i = 32; i < 127; i++) ord[sprintf("%c", i)] = i; section = "" }
/^%end/ { flush_cmd(); section = ""; next }
/^%packages/ { section = "packages"; next }
/^%pre([ \t]|$)/ { section = "pre"; next }
/^%post([ \t]|$)/ { section = "post"; next }
/^%/ { section = "other"; next }
section == "" && mode == "url" && /^url[ \t]/ {
  for (i = 2; i <= NF; i++) {
    if ($i ~ /^--url=/) { v = $i; sub(/^--url=/, "", v); print unq(v); exit }
    if ($i == "--url") { print unq($(i + 1)); exit }
  }
}
section == "packages" && mode == "packages" {
  line = $0; sub(/#.*/, "", line); gsub(/^[ \t]+|[ \t]+$/, "", line)
  if (line == "") next
  split(line, w, /[ \t]+/); name = w[1]
  if (name ~ /^@/) print "group", substr(name, 2)
  else if (name ~ /^-/) print "exclude", substr(name, 2)
  else print "package", name
}
(section == "pre" || section == "post") && mode == "events" {
  line = $0
  if (line ~ /\\$/) { sub(/\\$/, "", line); cmd = cmd line " "; next }
  cmd = cmd line; flush_cmd()
}
' "$2"
EOF

# comps: the mandatory and default members of one group
cat > "$work/bin/comps-group" <<'EOF'
#!/bin/sh
# comps-group GROUP COMPS.XML -> package names, one a line
exec awk -v want="$1" '
/<group>/ { ingroup = 1; id = ""; next }
/<\/group>/ { ingroup = 0; next }
ingroup && /<id>/ && id == "" { id = $0; sub(/.*<id>/, "", id); sub(/<\/id>.*/, "", id) }
ingroup && id == want && /<packagereq/ && (/type="mandatory"/ || /type="default"/ || !/type=/) {
  n = $0; sub(/.*<packagereq[^>]*>/, "", n); sub(/<\/packagereq>.*/, "", n); print n
}
' "$2"
EOF

# primary.xml: "name href" for every package (the distribution keeps one version of each)
cat > "$work/bin/primary-index" <<'EOF'
#!/bin/sh
exec awk '
/<package type="rpm">/ { name = "" }
/<name>/ && name == "" { name = $0; sub(/.*<name>/, "", name); sub(/<\/name>.*/, "", name) }
/<location / { h = $0; sub(/.*href="/, "", h); sub(/".*/, "", h); print name, h }
' "$1"
EOF

cat > "$work/init" <<'EOF'
#!/bin/sh
# The stand-in installer. Never exits: the last act is a poweroff (the kernel has panic=-1 and
# qemu -no-reboot, so a panic also ends the VM).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
say() { echo "ROCKS-STANDIN: $*"; }
finish() { say "result $1"; sync; poweroff -f; sleep 30; }
arg() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" /proc/cmdline | sed "s/^'//; s/'\$//"; }
say "init at $(cut -d' ' -f1 /proc/uptime)s"
for m in $(cat /lib/modules/load-order); do insmod "/lib/modules/$m" 2>/dev/null; done
ip link set lo up

KS=$(arg inst.ks); REPO_ARG=$(arg inst.repo); BOOTIF=$(arg BOOTIF)
SENDMAC=no; grep -q 'inst.ks.sendmac' /proc/cmdline && SENDMAC=yes
say "cmdline ks=$KS sendmac=$SENDMAC bootif=$BOOTIF"
[ -n "$KS" ] || finish "no-inst.ks"

# the interface that booted (pxelinux IPAPPEND 2: BOOTIF=01-aa-bb-..), else the first one
WANT=$(echo "$BOOTIF" | sed 's/^01-//; s/-/:/g')
IF=""
for i in $(seq 100); do
  for d in /sys/class/net/*; do
    n=${d##*/}; [ "$n" = lo ] && continue
    if [ -z "$WANT" ] || [ "$(cat "$d/address")" = "$WANT" ]; then IF=$n; break; fi
  done
  [ -n "$IF" ] && break; sleep 0.1
done
[ -n "$IF" ] || finish "no-nic"
MAC=$(cat "/sys/class/net/$IF/address")
ip link set "$IF" up
# e1000 reports carrier ~2 s after link up; DHCP before that is lost
for i in $(seq 60); do [ "$(cat "/sys/class/net/$IF/carrier" 2>/dev/null)" = 1 ] && break; sleep 0.1; done
udhcpc -i "$IF" -s /etc/udhcpc.script -n -q -t 10 -T 1 -A 1 >/dev/null 2>&1 || finish "dhcp-failed"
. /run/lease
say "dhcp $IF mac=$MAC ip=$lease_ip host=$lease_host"

# Anaconda's inst.ks.sendmac: one "X-RHN-Provisioning-MAC-<n>: <dev> <mac>" header per NIC
fetch_ks() {
  set -- -q -O /tmp/ks
  if [ "$SENDMAC" = yes ]; then
    n=0
    for d in /sys/class/net/*; do
      dev=${d##*/}; [ "$dev" = lo ] && continue
      set -- "$@" --header "X-RHN-Provisioning-MAC-$n: $dev $(cat "$d/address")"; n=$((n + 1))
    done
  fi
  # busybox wget -T segfaults in 1.35: every transfer is bounded with timeout(1) instead
  timeout 60 wget "$@" "$KS"
}
post() { timeout 30 wget -q -O /tmp/post.out --post-data "$2" "$1" && say "event $3 $(cat /tmp/post.out)"; }
fetch_ks || finish "kickstart-fetch-failed"
say "kickstart $(wc -c < /tmp/ks) bytes for host=$(sed -n 's/^network .*--hostname=\([^ ]*\).*/\1/p' /tmp/ks | head -n1)"

URL=$(ks-read url /tmp/ks)
[ -n "$URL" ] || URL=$REPO_ARG
say "url $URL"
ks-read events /tmp/ks > /tmp/events
say "phone-home calls: $(wc -l < /tmp/events)"

# %pre phone-home first, as Anaconda runs %pre before anything else
grep '^pre ' /tmp/events | while read -r sec url body; do post "$url" "$body" pre; done

timeout 60 wget -q -O /tmp/repomd.xml "$URL/repodata/repomd.xml" || finish "repomd-fetch-failed"
href() { awk -v t="$1" '/<data type="/ { d = $0; sub(/.*<data type="/, "", d); sub(/".*/, "", d) }
  /<location href="/ && d == t { h = $0; sub(/.*href="/, "", h); sub(/".*/, "", h); print h; exit }' /tmp/repomd.xml; }
P=$(href primary); G=$(href group); GZ=$(href group_gz)
timeout 60 wget -q -O /tmp/primary.xml.gz "$URL/$P" || finish "primary-fetch-failed"
zcat /tmp/primary.xml.gz > /tmp/primary.xml
primary-index /tmp/primary.xml > /tmp/index
if [ -n "$G" ]; then timeout 60 wget -q -O /tmp/comps.xml "$URL/$G"
elif [ -n "$GZ" ]; then timeout 60 wget -q -O - "$URL/$GZ" | zcat > /tmp/comps.xml
else : > /tmp/comps.xml; fi

ks-read packages /tmp/ks > /tmp/pkglist
: > /tmp/want
while read -r kind name; do
  case $kind in
    group) n0=$(wc -l < /tmp/want); comps-group "$name" /tmp/comps.xml >> /tmp/want
           say "group $name: $(($(wc -l < /tmp/want) - n0)) packages" ;;
    package) echo "$name" >> /tmp/want ;;
  esac
done < /tmp/pkglist
grep '^exclude ' /tmp/pkglist | cut -d' ' -f2 > /tmp/exclude
sort -u /tmp/want | grep -vxF -f /tmp/exclude > /tmp/want.sorted || true

NPKG=0; MISSING=0; FAILED=0
for name in $(cat /tmp/want.sorted); do
  h=$(awk -v n="$name" '$1 == n { print $2; exit }' /tmp/index)
  if [ -z "$h" ]; then say "missing $name"; MISSING=$((MISSING + 1)); continue; fi
  if timeout 60 wget -q -O /tmp/p.rpm "$URL/$h" &&
     [ "$(head -c4 /tmp/p.rpm | od -An -tx1 | tr -d ' ')" = edabeedb ]; then
    (cd /sysimage && rpm2cpio /tmp/p.rpm | cpio -idm 2>/dev/null)
    say "fetched $name $(wc -c < /tmp/p.rpm)"
    NPKG=$((NPKG + 1))
  else
    say "fetch-failed $name"; FAILED=$((FAILED + 1))
  fi
done
say "packages fetched=$NPKG missing=$MISSING failed=$FAILED files=$(find /sysimage -type f | wc -l)"

grep '^post ' /tmp/events | while read -r sec url body; do post "$url" "$body" post; done
if [ "$MISSING" = 0 ] && [ "$FAILED" = 0 ]; then finish ok; else finish "packages-incomplete"; fi
EOF
chmod 0755 "$work/init" "$work/bin/ks-read" "$work/bin/comps-group" "$work/bin/primary-index" \
  "$work/etc/udhcpc.script"

# no cpio(1) needed: busybox writes newc archives (-R 0:0: owned by root)
(cd "$work" && find . | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -1 > "$cache/initrd.img.tmp"
mv "$cache/initrd.img.tmp" "$cache/initrd.img"
echo "$stamp" > "$cache/initrd.stamp"
echo "KERNEL=$cache/vmlinuz"
echo "INITRD=$cache/initrd.img"
