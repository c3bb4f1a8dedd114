#!/usr/bin/env bash
# Check a package built by `make deb`: list its contents, check that everything the system
# needs is in it, and run each binary (under qemu-user when it is for another architecture):
# --help, and --check-config on the example configuration.
set -euo pipefail
target="${1:-aarch64-unknown-linux-gnu}"
profile="${2:-release}"
cd "$(dirname "$0")/.."
arch=$(case "$target" in aarch64-*) echo arm64 ;; x86_64-*) echo amd64 ;; *) echo "$target" ;; esac)
deb=$(ls -t target/debian/secura-pi-cam_*_"$arch".deb | head -n 1)
echo "== $deb ($(stat -c %s "$deb") bytes)"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
echo "== contents"
contents=$(dpkg-deb --contents "$deb")
echo "$contents"

fail=0
need=(
  ./usr/bin/secura-alarmd ./usr/bin/secura-sniffer ./usr/bin/secura-sensord
  ./usr/bin/secura-camd ./usr/bin/secura-botd ./usr/bin/secura-mqttd
  ./usr/lib/systemd/system/secura-pi-cam.target ./usr/lib/systemd/system/secura-node.target
  ./usr/lib/systemd/system/secura-alarmd.service ./usr/lib/systemd/system/secura-botd.service
  ./usr/lib/systemd/system/secura-monitor@.service ./usr/lib/secura-pi-cam/secura-monitor
  ./usr/lib/systemd/system/secura-mqttd.service ./usr/lib/systemd/system/secura-alarm-failed.service
  ./usr/share/dbus-1/system.d/org.securapicam.Nodes.conf
  ./usr/lib/sysusers.d/secura-pi-cam.conf ./usr/lib/tmpfiles.d/secura-pi-cam.conf
  ./usr/share/dbus-1/system.d/org.securapicam.Alarm.conf
  ./usr/share/dbus-1/system.d/org.securapicam.Bot.conf
  ./etc/secura-pi-cam/config.toml
)
for f in "${need[@]}"; do
  grep -q " $f\$" <<<"$contents" || { echo "MISSING from the package: $f"; fail=1; }
done
# Read the whole listing before matching: `grep -q` on a pipe may SIGPIPE tar (pipefail).
control=$(dpkg-deb --ctrl-tarfile "$deb" | tar -t)
grep -q conffiles <<<"$control" || { echo "MISSING: conffiles"; fail=1; }
# The users must exist before the D-Bus policy naming them is unpacked.
grep -q preinst <<<"$control" || { echo "MISSING: preinst"; fail=1; }

runner=()
if [ "$arch" = arm64 ] && [ "$(uname -m)" != aarch64 ]; then
  runner=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
fi
echo "== running the $arch binaries ${runner[*]:+under ${runner[*]}}"
for d in alarmd sniffer sensord camd botd mqttd; do
  bin="target/$target/$profile/secura-$d"
  file "$bin" 2>/dev/null | sed 's/,.*//' || true
  if ! "${runner[@]}" "$bin" --help >/dev/null; then
    echo "FAILED: secura-$d --help"; fail=1
  fi
  if out=$("${runner[@]}" "$bin" --config config/config.toml --check-config 2>&1); then
    echo "secura-$d --check-config: ok ($(wc -l <<<"$out") lines)"
  else
    echo "FAILED: secura-$d --check-config:"; echo "$out"; fail=1
  fi
done
echo "== stripped sizes"
ls -l target/"$target"/"$profile"/secura-{alarmd,sniffer,sensord,camd,botd,mqttd} | awk '{print $5, $9}'
exit $fail
