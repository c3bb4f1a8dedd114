# Shared by the lab's scripts (sourced). Everything the lab keeps between runs lives under
# SECURA_LAB_CACHE, outside the repository.
SECURA_LAB_CACHE="${SECURA_LAB_CACHE:-/var/cache/secura-lab}"
lab_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# The mirror of the machine's own Debian bookworm suite (deb822 or one-line sources): the lab
# never names a registry host itself.
lab_mirror() {
  local f m=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    m=$(awk 'BEGIN { RS = "" }
             /Suites:[^\n]*bookworm([ \n]|$)/ && !/Suites:[^\n]*bookworm-security/ {
               for (i = 1; i <= NF; i++) if ($i == "URIs:") { print $(i + 1); exit } }' "$f")
    [ -n "$m" ] && break
  done
  if [ -z "$m" ] && [ -e /etc/apt/sources.list ]; then
    m=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list)
  fi
  [ -n "$m" ] || { echo "lab: no Debian bookworm mirror in the apt sources" >&2; return 1; }
  echo "$m"
}

# The image's cache directory: keyed by the hash of the recipe, so a changed recipe builds a
# new image and an unchanged one is reused.
lab_image_dir() {
  local h
  h=$(cat "$lab_dir/image.sh" "$lab_dir/common.sh" | sha256sum | cut -c1-16)
  echo "$SECURA_LAB_CACHE/image-$h"
}
