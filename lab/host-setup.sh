#!/usr/bin/env bash
# The lab's host tools on Debian 12: qemu-system-aarch64 10 from bookworm-backports (bookworm's
# 7.2 would replace the newer qemu-utils some machines carry), mmdebstrap and qemu-user-static
# to build the arm64 root filesystem, fdtput for the Raspberry Pi device tree, e2fsprogs for
# `mkfs.ext4 -d`. Idempotent; runs as root. The backports suite is added on the mirror the
# machine's own apt sources already use.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

. "$(dirname "$0")/common.sh"

need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in mmdebstrap arch-test qemu-user-static device-tree-compiler e2fsprogs python3 zstd; do
  have "$p" || need+=("$p")
done
qemu_ok=false
if command -v qemu-system-aarch64 >/dev/null; then
  v=$(qemu-system-aarch64 --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
  [ "${v:-0}" -ge 10 ] && qemu_ok=true
fi

if [ "${#need[@]}" -gt 0 ] || ! $qemu_ok; then
  if ! $qemu_ok && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    m=$(lab_mirror)
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$m" > /etc/apt/sources.list.d/secura-lab-backports.sources
    echo "host-setup: added bookworm-backports on $m"
  fi
  apt-get update -qq
  [ "${#need[@]}" -gt 0 ] && apt-get install -y -qq --no-install-recommends "${need[@]}"
  $qemu_ok || apt-get install -y -qq --no-install-recommends -t bookworm-backports \
    qemu-system-arm qemu-utils
fi
qemu-system-aarch64 --version | head -n1
