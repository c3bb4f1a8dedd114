#!/usr/bin/env bash
# The lab's arm64 Debian 12 image: a root filesystem built on this machine by mmdebstrap
# (arm64 binaries run under qemu-user-static), written to a raw ext4 image with
# `mkfs.ext4 -d` (no loop device), and its kernel and a small initramfs (virtio, ext4, 9p:
# MODULES=most under qemu-user takes many minutes) beside it. Cached under
# $SECURA_LAB_CACHE/image-<hash of this recipe>/ and rebuilt only when the recipe changes.
# Prints the image directory on stdout. Runs as root.
set -euo pipefail
. "$(dirname "$0")/common.sh"

out=$(lab_image_dir)
if [ -e "$out/done" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$SECURA_LAB_CACHE"
work=$(mktemp -d "$SECURA_LAB_CACHE/build.XXXXXX")
binfmt=/proc/sys/fs/binfmt_misc
entry=secura-lab-aarch64
mounted_binfmt=false
cleanup() {
  # The aarch64 handler is this build's alone: removed whatever happens.
  [ -e "$binfmt/$entry" ] && echo -1 > "$binfmt/$entry"
  if $mounted_binfmt; then umount "$binfmt" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Register qemu-aarch64-static for arm64 ELF binaries with the F flag (the interpreter is
# opened now, so it works inside the chroot), only for the time of the build.
if [ ! -e "$binfmt/register" ]; then
  mount -t binfmt_misc binfmt_misc "$binfmt"
  mounted_binfmt=true
fi
[ -e "$binfmt/$entry" ] && echo -1 > "$binfmt/$entry"
magic='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
printf ':%s:M::%s:%s:/usr/bin/qemu-aarch64-static:F' "$entry" "$magic" "$mask" > "$binfmt/register"

mirror=$(lab_mirror)
# What the scenario needs in the guest: systemd and the system bus (the package's own
# dependencies, libpcap included, since the guest has no network to fetch them), the guest
# agent, the kernel, and the simulated home's tools (hostapd and iw for the radios, iproute2
# for the namespaces, tcpdump for monitor mode, python3 for the Bot API stand-in and the
# chattering phone).
packages=systemd,systemd-sysv,udev,dbus,kmod,procps,qemu-guest-agent,initramfs-tools,zstd
packages+=,linux-image-arm64,libpcap0.8,hostapd,iw,iproute2,tcpdump,python3-minimal
packages+=,python3

# Before the kernel is installed: a small initramfs with only what finds the root filesystem.
essential_hook='mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/etc/initramfs-tools/hooks"
echo MODULES=list > "$1/etc/initramfs-tools/conf.d/secura-lab"
cat > "$1/etc/initramfs-tools/hooks/secura-lab" <<HOOK
#!/bin/sh
[ "\$1" = prereqs ] && exit 0
. /usr/share/initramfs-tools/hook-functions
for m in virtio_pci virtio_blk virtio_mmio ext4 9p 9pnet_virtio; do force_load "\$m"; done
HOOK
chmod 755 "$1/etc/initramfs-tools/hooks/secura-lab"'

# The guest: root on the virtio disk, no password (only the guest agent reaches it), no
# timers of its own that would compete with the scenario's, the 9p share's mount point.
customize_hook='echo secura-lab > "$1/etc/hostname"
printf "/dev/vda / ext4 rw,relatime 0 1\n" > "$1/etc/fstab"
chroot "$1" passwd -d root
mkdir -p "$1/mnt/lab"
for t in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer; do
  ln -sf /dev/null "$1/etc/systemd/system/$t"
done
rm -f "$1/etc/machine-id"; touch "$1/etc/machine-id"'

echo "image: mmdebstrap arm64 bookworm from $mirror" >&2
nice -n 5 mmdebstrap --mode=root --arch=arm64 --variant=apt --include="$packages" \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --essential-hook="$essential_hook" --customize-hook="$customize_hook" \
  bookworm "$work/root" "deb $mirror bookworm main" >&2

kernel=$(ls "$work"/root/boot/vmlinuz-* | sort -V | tail -n1)
initrd=$(ls "$work"/root/boot/initrd.img-* | sort -V | tail -n1)
mkdir -p "$work/out"
cp "$kernel" "$work/out/vmlinuz"
cp "$initrd" "$work/out/initrd.img"
basename "$kernel" | sed 's/^vmlinuz-//' > "$work/out/kernel-version"
# Sparse: the file takes only what the root filesystem holds.
nice -n 5 mkfs.ext4 -q -L secura-lab -d "$work/root" "$work/out/rootfs.img" 4G >&2
rm -rf "$work/root"
touch "$work/out/done"
rm -rf "$out"
mv "$work/out" "$out"
echo "$out"
