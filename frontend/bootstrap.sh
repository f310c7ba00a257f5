#!/usr/bin/env bash
# Turns a fresh Rocky Linux 9 host into a rocks frontend (run as root; idempotent):
#   packages (python3.11, the RPM tool chain, dhcpd, TFTP, boot loaders), the project in a venv,
#   the private network and attributes, the OS roll from the Rocky DVD or mirror, the
#   distribution, `rocks sync config`, and the frontend as the systemd unit rocks-frontend.
# Environment (defaults in brackets):
#   ROCKS_SRC [the checkout this script is in]   ROCKS_STATE [/var/lib/rocks]
#   PRIVATE_IF [eth1]  PRIVATE_IP [10.1.1.1]  PRIVATE_NET [10.1.1.0]  PRIVATE_MASK [255.255.255.0]
#   OS_MEDIA [/dev/sr0, or a directory with .treeinfo; empty: mirror the Rocky 9 BaseOS tree]
set -euo pipefail
SRC=${ROCKS_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export ROCKS_STATE=${ROCKS_STATE:-/var/lib/rocks}
PRIVATE_IF=${PRIVATE_IF:-eth1}
PRIVATE_IP=${PRIVATE_IP:-10.1.1.1}
PRIVATE_NET=${PRIVATE_NET:-10.1.1.0}
PRIVATE_MASK=${PRIVATE_MASK:-255.255.255.0}
VENV=/opt/rocks/venv
ROCKS=$VENV/bin/rocks
export ROCKS_SYNC_ROOT=/    # this machine is the frontend: sync writes its real /etc and /tftpboot

[ "$(id -u)" = 0 ] || { echo "bootstrap: run as root" >&2; exit 1; }
. /etc/os-release
case "${ID}:${VERSION_ID%%.*}" in
  rocky:9|almalinux:9|rhel:9) ;;
  *) echo "bootstrap: expected Rocky/Alma Linux 9, found $PRETTY_NAME" >&2; exit 1 ;;
esac

echo "== packages"
dnf -y -q install epel-release >/dev/null
dnf -y -q install python3.11 python3.11-pip rpm-build createrepo_c dnf-plugins-core \
  python3-dnf python3-libcomps python3-rpm dhcp-server tftp-server syslinux-tftpboot \
  grub2-efi-x64 shim-x64 ipxe-bootimgs-x86 bind-utils curl git rsync >/dev/null

echo "== the project in $VENV"
if [ ! -x "$VENV/bin/python" ]; then
  mkdir -p /opt/rocks
  # system site packages: the distribution's rpm, dnf and libcomps bindings
  python3.11 -m venv --system-site-packages "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check -e "$SRC"
mkdir -p "$ROCKS_STATE"

echo "== settings in /etc/rocks/rocks.toml (the environment overrides them; man 8 rocks)"
mkdir -p /etc/rocks
[ -f /etc/rocks/rocks.toml ] || cat > /etc/rocks/rocks.toml <<TOML
state = "$ROCKS_STATE"
sync_root = "/"
listen = "$PRIVATE_IP:8080"
TOML

echo "== private network on $PRIVATE_IF"
if ! ip -4 addr show dev "$PRIVATE_IF" | grep -q "inet $PRIVATE_IP/"; then
  nmcli con add type ethernet ifname "$PRIVATE_IF" con-name rocks-private \
    ipv4.method manual ipv4.addresses "$PRIVATE_IP/24" ipv6.method disabled >/dev/null 2>&1 ||
    nmcli con mod rocks-private ipv4.addresses "$PRIVATE_IP/24"
  nmcli con up rocks-private >/dev/null
fi

echo "== inventory"
setattr() {  # set a global attribute whatever its current state
  "$ROCKS" set attr "$1" "$2" >/dev/null 2>&1 || "$ROCKS" add attr "$1" "$2" >/dev/null
}
setattr Kickstart_PrivateKickstartHost "$PRIVATE_IP"
setattr Kickstart_FrontendURL "http://$PRIVATE_IP:8080"
setattr Kickstart_DistroURL "http://$PRIVATE_IP:8080/install/distro"
setattr sync_dhcp isc
setattr sync_bios_loader pxelinux
setattr sync_uefi_loader grub
"$ROCKS" list network private >/dev/null 2>&1 ||
  "$ROCKS" add network private subnet="$PRIVATE_NET" netmask="$PRIVATE_MASK" zone=local pxe=yes

echo "== OS roll and distribution"
if ! "$ROCKS" list roll os >/dev/null 2>&1; then
  media=${OS_MEDIA:-}
  if [ -z "$media" ] && [ -b /dev/sr0 ]; then media=/dev/sr0; fi
  if [ -b "${media:-}" ]; then
    mkdir -p /mnt/rocks-dvd
    mountpoint -q /mnt/rocks-dvd || mount -o ro "$media" /mnt/rocks-dvd
    media=/mnt/rocks-dvd
  fi
  if [ -z "$media" ]; then
    # no DVD: a BaseOS + AppStream mirror of this release with its installer images
    media=/var/cache/rocks/os-mirror
    base="https://dl.rockylinux.org/pub/rocky/${VERSION_ID%%.*}"
    mkdir -p "$media/images/pxeboot"
    for v in BaseOS AppStream; do
      dnf -q reposync --norepopath --download-metadata --repoid="$v" -p "$media/$v" \
        --repofrompath="$v,$base/$v/x86_64/os/" >/dev/null
    done
    curl -fsSL -o "$media/.treeinfo" "$base/BaseOS/x86_64/os/.treeinfo"
    for f in vmlinuz initrd.img; do
      curl -fsSL -o "$media/images/pxeboot/$f" "$base/BaseOS/x86_64/os/images/pxeboot/$f"
    done
  fi
  "$ROCKS" add roll "$media"
  "$ROCKS" enable roll os
fi
"$ROCKS" create distro
# the installer kernel and initrd where the install boot action names them
mkdir -p /tftpboot
cp -f "$ROCKS_STATE/distro/images/pxeboot/vmlinuz" "$ROCKS_STATE/distro/images/pxeboot/initrd.img" /tftpboot/

echo "== DHCP, TFTP, boot files"
"$ROCKS" sync config
cat > /etc/systemd/system/rocks-tftp.service <<UNIT
[Unit]
Description=TFTP for rocks network boots (/tftpboot)
After=network-online.target

[Service]
ExecStart=/usr/sbin/in.tftpd --foreground --listen --address $PRIVATE_IP:69 --secure /tftpboot
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
mkdir -p /etc/systemd/system/dhcpd.service.d
cat > /etc/systemd/system/dhcpd.service.d/rocks.conf <<UNIT
[Service]
ExecStart=
ExecStart=/usr/sbin/dhcpd -f -cf /etc/dhcp/dhcpd.conf -user dhcpd -group dhcpd --no-pid $PRIVATE_IF
UNIT

echo "== the frontend service"
install -m 0644 "$SRC/frontend/rocks-frontend.service" /etc/systemd/system/rocks-frontend.service
sed -i "s|^ExecStart=/opt/rocks/venv/bin/rocks |ExecStart=$ROCKS |" /etc/systemd/system/rocks-frontend.service
[ -e /etc/sysconfig/rocks-frontend ] || cat > /etc/sysconfig/rocks-frontend <<CONF
ROCKS_STATE=$ROCKS_STATE
ROCKS_LISTEN=$PRIVATE_IP
ROCKS_PORT=8080
ROCKS_FRONTEND_ARGS=
CONF
systemctl daemon-reload
if systemctl is-active -q firewalld; then
  firewall-cmd -q --permanent --zone=trusted --add-interface="$PRIVATE_IF"
  firewall-cmd -q --reload
fi
systemctl enable -q --now rocks-frontend rocks-tftp dhcpd
systemctl restart dhcpd
echo "bootstrap: frontend at http://$PRIVATE_IP:8080/ (state $ROCKS_STATE)"
