#!/usr/bin/env bash
# Builds the lab guest from Debian packages only: the stock kernel
# (linux-image-amd64) and a root file system made by mmdebstrap, packed as
# one initramfs. Needs root, mmdebstrap, cpio and zstd (tests/lab/lab.sh
# installs them), and apt sources for Debian 12 (the host's are reused).
#
#   guest/build.sh            prints the guest's directory, building it if needed
#
# The guest lands in $BAYSTACK_LAB_CACHE/guest-KEY/ (default cache
# /var/cache/baystack-lab), KEY being a hash of this recipe: this script,
# init.sh, packages and modules. A changed recipe builds a new guest; the
# old ones are removed once it is built.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${BAYSTACK_LAB_CACHE:-/var/cache/baystack-lab}
suite=bookworm
sources=/etc/apt/sources.list.d/debian.sources
[ -e "$sources" ] || sources=/etc/apt/sources.list
mkdir -p "$cache"

key=$(cat "$here/build.sh" "$here/init.sh" "$here/packages" "$here/modules" | sha256sum | cut -c1-16)
dest="$cache/guest-$key"
exec 9>"$cache/.lock"
flock 9
if [ -s "$dest/initrd.img" ] && [ -s "$dest/vmlinuz" ]; then
  echo "$dest"; exit 0
fi

started=$(date +%s)
work=$(mktemp -d /tmp/baystack-guest.XXXXXX)
trap 'rm -rf "$work"' EXIT
words() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$1"; }

# The root file system: Essential packages plus the list, without docs.
mmdebstrap --variant=essential --include="$(words "$here/packages" | paste -sd,)" \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  "$suite" "$work/root" "$sources" </dev/null >"$work/mmdebstrap.log" 2>&1 \
  || { tail -30 "$work/mmdebstrap.log" >&2; exit 1; }
rm -rf "$work"/root/var/cache/apt/* "$work"/root/var/lib/apt/lists/* "$work"/root/var/log/*

# The kernel the linux-image-amd64 metapackage points at, with only the
# module subtrees the lab needs.
kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
# apt downloads as its _apt user, into a directory that user may write.
chmod 755 "$work" && mkdir -p "$work/deb" && chown _apt "$work/deb" 2>/dev/null || true
(cd "$work/deb" && apt-get download -q "$kpkg" >/dev/null)
dpkg -x "$work/deb/${kpkg}"_*.deb "$work/k"
kver=$(ls "$work/k/lib/modules")
mods="$work/k/lib/modules/$kver"
keep="$work/root/lib/modules/$kver"
mkdir -p "$keep"
cp -a "$mods"/modules.builtin* "$mods/modules.order" "$keep/"
while read -r sub; do
  [ -e "$mods/kernel/$sub" ] || { echo "build.sh: $kpkg has no kernel/$sub; left out" >&2; continue; }
  mkdir -p "$keep/kernel/$(dirname "$sub")"
  cp -a "$mods/kernel/$sub" "$keep/kernel/$(dirname "$sub")/"
done < <(words "$here/modules")
chroot "$work/root" depmod "$kver"   # the host may have no kmod

echo "InitiatorName=iqn.2024-01.lab.baystack:initiator" >"$work/root/etc/iscsi/initiatorname.iscsi"
install -m 0755 "$here/init.sh" "$work/root/init"

mkdir -p "$dest.new"
cp "$work/k/boot/vmlinuz-$kver" "$dest.new/vmlinuz"
(cd "$work/root" && find . -print0 | cpio --null -o -H newc --quiet) | zstd -q -T0 -9 >"$dest.new/initrd.img"
echo "$kver" >"$dest.new/kernel"
rm -rf "$dest" && mv "$dest.new" "$dest"
for old in "$cache"/guest-*; do
  [ "$old" = "$dest" ] || rm -rf "$old"
done
echo "lab: built guest $key (kernel $kver, initrd $(du -h "$dest/initrd.img" | cut -f1)) in $(( $(date +%s) - started )) s" >&2
echo "$dest"
