#!/bin/bash
# build-image.sh VMDIR: the guest image of the VM suite, from Debian packages.
#   VMDIR/vmlinuz, VMDIR/initramfs.gz (busybox, the sctp modules, a static sctpt, the
#   xcluster-ovl/sctplb overlay) and VMDIR/image.info (what went in).
# The kernel is the current ABI package behind the meta package linux-image-cloud-amd64 (the
# archive drops superseded ABI versions, so it is resolved at every build, never hard-coded),
# fetched with `apt-get download` and unpacked with `dpkg -x` into VMDIR/cache/<package>; a
# present cache is reused. Exit 77 (skip) when the machine cannot provide a part, saying why.
# Environment: SCTPT_BIN (static sctpt, required), SCTPLB_BIN (packed by the overlay's tar),
# SCTPLB_SOURCE_DIR (default: this checkout), SCTPLB_VM_OVERLAY_TAR (default: the overlay's
# xcluster-ovl/sctplb/tar, required: the guests run its bin/sctplb_test).
set -eu
vmdir=${1:?usage: build-image.sh VMDIR}
here=$(cd "$(dirname "$0")" && pwd)
source_dir=${SCTPLB_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
overlay_tar=${SCTPLB_VM_OVERLAY_TAR:-$source_dir/xcluster-ovl/sctplb/tar}
meta=linux-image-cloud-amd64
t0=$(date +%s%N)

log() { echo "build-image: $*" >&2; }
skip() { log "SKIP: $*"; exit 77; }
die() { log "error: $*"; exit 1; }

for tool in cpio gzip modinfo dpkg apt-cache; do
	command -v "$tool" >/dev/null || skip "$tool is not installed (Debian packages: cpio kmod dpkg apt)"
done
# static FILE: an ELF without a program interpreter (readelf: binutils, in build-essential).
static() { [ -x "$1" ] && ! LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'INTERP'; }
busybox=/bin/busybox
static "$busybox" || skip "no static busybox at $busybox (Debian package busybox-static)"
{ [ -n "${SCTPT_BIN:-}" ] && static "$SCTPT_BIN"; } || die "SCTPT_BIN='${SCTPT_BIN:-}' is not a static executable"

mkdir -p "$vmdir/cache"
cache=$vmdir/cache

# 1. The kernel: meta package -> current ABI package (linux-image-6.1.0-N-cloud-amd64).
abi=$(apt-cache depends "$meta" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1)
if [ -z "$abi" ]; then
	# No package lists (a fresh container): reuse whatever the cache holds, else give up.
	abi=$(find "$cache" -maxdepth 1 -type d -name 'linux-image-*' -printf '%f\n' 2>/dev/null | sort | tail -n 1)
	[ -n "$abi" ] || skip "apt-cache knows no $meta (run apt-get update) and the cache $cache is empty"
	log "apt-cache knows no $meta: using the cached $abi"
fi
tree=$cache/$abi
if [ ! -f "$tree/.complete" ]; then
	log "fetching $abi (apt-get download, into $cache)"
	rm -rf "$tree" "$cache"/"$abi"_*.deb
	(cd "$cache" && apt-get download -q "$abi" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
	deb=$(ls "$cache"/"$abi"_*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] || skip "cannot download $abi (no network or no Debian archive?)"
	dpkg -x "$deb" "$tree" || die "dpkg -x $deb failed"
	rm -f "$deb" # the unpacked tree is the cache
	touch "$tree/.complete"
fi
vmlinuz=$(ls "$tree"/boot/vmlinuz-* 2>/dev/null | head -n 1)
[ -n "$vmlinuz" ] || die "no vmlinuz in $tree/boot"
kver=${vmlinuz##*/vmlinuz-}
moddir=$tree/lib/modules/$kver

# The image is rebuilt only when an input changed: kernel package, this script, the guest init,
# sctpt, the overlay's files (SCTPLB_VM_REBUILD=1 forces it).
overlay_dir=$(dirname "$overlay_tar")
stamp=$( {
	echo "$abi"
	sha256sum "$0" "$here/guest/init" "$SCTPT_BIN" | cut -d' ' -f1
	(cd "$overlay_dir" && find . -type f -not -name '*.tar' -print0 | sort -z | xargs -0 -r sha256sum)
} | sha256sum | cut -d' ' -f1)
if [ -z "${SCTPLB_VM_REBUILD:-}" ] && [ -s "$vmdir/initramfs.gz" ] && [ -s "$vmdir/vmlinuz" ] &&
	[ "$(cat "$vmdir/image.stamp" 2>/dev/null)" = "$stamp" ]; then
	log "image up to date ($abi, $(stat -c %s "$vmdir/initramfs.gz") bytes initramfs)"
	exit 0
fi
rm -f "$vmdir/image.stamp"

# 2. Modules: the wanted ones and their dependencies (modinfo -F depends), dependencies first.
declare -A modpath=() done_mod=()
while IFS= read -r f; do
	name=${f##*/}
	name=${name%.ko*}
	modpath[$name]=$f
	modpath[${name//-/_}]=$f
done < <(find "$moddir/kernel" -name '*.ko*')
order=()
add_module() {
	local name=$1 dep
	[ -z "${done_mod[$name]:-}" ] || return 0
	done_mod[$name]=1
	[ -n "${modpath[$name]:-}" ] || die "module $name is not in $abi"
	for dep in $(modinfo -F depends "${modpath[$name]}" | tr ',' ' '); do add_module "$dep"; done
	order+=("$name")
}
for m in virtio_pci virtio_net qemu_fw_cfg sctp; do add_module "$m"; done

# 3. The initramfs tree.
root=$vmdir/initramfs
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,etc/init.d,proc,sys,dev,tmp,root,var/log,lib/modules,usr/bin,usr/sbin}
cp "$busybox" "$root/bin/busybox"
for m in "${order[@]}"; do
	case ${modpath[$m]} in
	*.ko) cp "${modpath[$m]}" "$root/lib/modules/$m.ko" ;;
	*.ko.xz) xz -dc "${modpath[$m]}" >"$root/lib/modules/$m.ko" ;;
	*.ko.zst) zstd -qdc "${modpath[$m]}" >"$root/lib/modules/$m.ko" ;;
	*) die "unknown module format ${modpath[$m]}" ;;
	esac
	echo "$m" >>"$root/lib/modules/order"
done
# The overlay (bin/sctplb_test, bin/sctpt, etc/init.d/*.rc), packed by its own tar script as
# Xcluster does. Its bin/sctplb and the libraries it packs for it (lib/, lib64/) are left out:
# the guests never run the LB (the LBs run on the host), and the image stays small.
[ -x "$overlay_tar" ] || die "no overlay tar script at $overlay_tar (xcluster-ovl/sctplb/tar)"
tarball=$vmdir/overlay.tar
rm -f "$tarball"
SCTPT_BIN=$SCTPT_BIN SCTPLB_BIN=${SCTPLB_BIN:-} "$overlay_tar" "$tarball" >&2 ||
	die "the overlay's tar ($overlay_tar) failed"
tar -C "$root" -xf "$tarball" --exclude='bin/sctplb' --exclude='lib/*' --exclude='lib64' \
	--exclude='lib64/*' || die "cannot unpack $tarball"
[ -x "$root/bin/sctplb_test" ] || die "the overlay has no bin/sctplb_test"
overlay=$overlay_tar
[ -x "$root/bin/sctpt" ] || cp "$SCTPT_BIN" "$root/bin/sctpt"
strip -s "$root/bin/sctpt" 2>/dev/null || true
cp "$here/guest/init" "$root/init"
chmod 755 "$root/init"
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) >"$vmdir/initramfs.gz.new"
mv "$vmdir/initramfs.gz.new" "$vmdir/initramfs.gz"
cp "$vmlinuz" "$vmdir/vmlinuz"
cat >"$vmdir/image.info" <<-INFO
	kernel package: $abi ($kver)
	modules: ${order[*]}
	overlay: $overlay
	sctpt: $SCTPT_BIN
	initramfs: $(stat -c %s "$vmdir/initramfs.gz") bytes
INFO
echo "$stamp" >"$vmdir/image.stamp"
log "image: $abi, $(stat -c %s "$vmdir/initramfs.gz") bytes initramfs, overlay $overlay, $((($(date +%s%N) - t0) / 1000000)) ms"
