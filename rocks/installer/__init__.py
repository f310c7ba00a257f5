"""The kickstart-executing installer of the boot tests, and the steps `rocks try` shares with it.

It executes a served kickstart the way Anaconda does, for the subset the bundled and test rolls
use (README.md, "Proving a reinstall", lists what it does and what Anaconda does beyond it):
`kickstart` (fetch with the MAC headers, parse with pykickstart, %include after %pre),
`scripts` (%pre, %pre-install, %post chrooted or not, with interpreter and log), `storage`
(zerombr, clearpart, ignoredisk, part, reqpart on real disks with sfdisk and mkfs), `packages`
(the %packages closure with dnf --installroot), `system` (network, host name, accounts, SSH
keys, locale, time zone, SELinux mode, firewall), `bootloader` (extlinux on BIOS, GRUB on
UEFI), `events` (the stages, posted where the kickstart's own phone-home lines post them) and
`main`, which runs them in Anaconda's order.

This package imports nothing else from rocks (the installer image carries only it, pykickstart
and the standard library); `rocks.tryout` and `rocks.packages.installroot` use `scripts` and
`packages` so that a roll author's trial runs exactly what a node runs.
"""
