#!/bin/bash
# pack-apps.sh VMDIR: the real SCTP applications of the VM suite's application scenarios
# (tests/vm/test-vm-apps.sh; docs/applications.md), packed for the guests from Debian packages
# without installing them on the host (their services would start there):
#   freeDiameterd + libfdcore/libfdproto + the extensions (freediameterd, freediameter-extensions),
#   sctp_darn, sctp_test, checksctp (lksctp-tools),
#   osmo-stp + libosmo-sigtran7 and the libosmo* libraries it loads (osmo-stp).
# `apt-get download` + `dpkg -x` into VMDIR/cache/apps/<package>; the dependencies the host lacks
# are fetched the same way (Depends, recursively); the shared libraries the programs load are
# found with ldd (LD_LIBRARY_PATH = the unpacked trees, then the host's). Output:
#   VMDIR/apps.cpio.gz        the programs, their libraries and plugins (a cpio archive)
#   VMDIR/initramfs-apps.gz   VMDIR/initramfs.gz followed by apps.cpio.gz: the kernel unpacks
#                             concatenated archives one after the other (build-image.sh's image
#                             stays as it is: the dual-path suite shares it)
#   VMDIR/apps.info           what went in
# SCTPLB_DIAMETER_ECHO: a built sctplb_echo.fdx (test-apps/diameter-echo) to pack too, or empty.
# SCTPLB_M3UA_PING: a built sctplb-m3ua-ping (test-apps/m3ua-ping, linked against the same Debian
# libosmo-sigtran7 as osmo-stp) to pack into /usr/bin too, or empty.
# Exit 77 (skip) when the packages cannot be had (no archive reachable and nothing cached).
set -eu
vmdir=${1:?usage: pack-apps.sh VMDIR}
cache=$vmdir/cache/apps
top=(freediameterd freediameter-extensions libfdcore6 libfdproto6 lksctp-tools osmo-stp)
t0=$(date +%s%N)
log() { echo "pack-apps: $*" >&2; }
skip() { log "SKIP: $*"; exit 77; }
die() { log "error: $*"; exit 1; }
for tool in apt-cache apt-get dpkg dpkg-query ldd cpio gzip; do
	command -v "$tool" >/dev/null || skip "$tool is not installed"
done
[ -s "$vmdir/initramfs.gz" ] || die "no $vmdir/initramfs.gz (run build-image.sh first)"
mkdir -p "$cache"

# The closure: top packages and, recursively, what they depend on that the host has not
# installed (the host's libraries are copied from the host by ldd below: same Debian 12).
installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }
# One apt-cache call per level of the dependency tree (each call costs seconds on a loaded machine).
declare -A want=()
level=("${top[@]}")
resolved=yes
while [ ${#level[@]} -gt 0 ]; do
	for p in "${level[@]}"; do want[$p]=1; done
	deps=$(apt-cache depends "${level[@]}" 2>/dev/null) || { resolved=no; break; }
	next=()
	# First alternative of each Depends/PreDepends (an alternative line starts with '|').
	for d in $(sed -n 's/^ *|\?\(Pre\)\?Depends: \([^ <]*\)$/\2/p' <<<"$deps" | sed 's/:any$//' | sort -u); do
		installed "$d" || [ -n "${want[$d]:-}" ] || next+=("$d")
	done
	level=("${next[@]}")
done
pkgs=("${!want[@]}")
# Without package lists (offline): whatever the cache holds.
if [ "$resolved" = no ]; then
	for d in "$cache"/*/.complete; do [ -e "$d" ] && d=${d%/.complete} && want[${d##*/}]=1; done
	pkgs=("${!want[@]}")
fi

# Versions the archive offers now (empty without package lists: use what is cached).
stamp_parts=()
missing=()
declare -A candidate=()
while read -r p v; do candidate[$p]=$v; done < <(apt-cache policy "${pkgs[@]}" 2>/dev/null |
	awk '/^[^ ].*:$/ { p = substr($1, 1, length($1) - 1) } /^ *Candidate:/ { print p, $2 }')
for p in "${pkgs[@]}"; do
	v=${candidate[$p]:-}
	if [ -z "$v" ] || [ "$v" = '(none)' ]; then
		v=$(cat "$cache/$p/.version" 2>/dev/null) || v=''
	fi
	[ -n "$v" ] || { missing+=("$p"); continue; }
	stamp_parts+=("$p=$v")
	[ -f "$cache/$p/.complete" ] && [ "$(cat "$cache/$p/.version")" = "$v" ] && continue
	log "fetching $p $v"
	rm -rf "${cache:?}/$p" "$cache"/"$p"_*.deb
	(cd "$cache" && apt-get download -q "$p=$v" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
	deb=$(ls "$cache"/"$p"_*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] || skip "cannot download $p (no network or no Debian archive?)"
	dpkg -x "$deb" "$cache/$p" || die "dpkg -x $deb"
	rm -f "$deb"
	echo "$v" >"$cache/$p/.version"
	touch "$cache/$p/.complete"
done
[ ${#missing[@]} -eq 0 ] || skip "apt-cache knows no ${missing[*]} (run apt-get update) and the cache has none"

echo_fdx=${SCTPLB_DIAMETER_ECHO:-}
m3ua_ping=${SCTPLB_M3UA_PING:-}
stamp=$( { printf '%s\n' "${stamp_parts[@]}" | sort; sha256sum "$0" "$vmdir/initramfs.gz" ${echo_fdx:+"$echo_fdx"} ${m3ua_ping:+"$m3ua_ping"} | cut -d' ' -f1; } | sha256sum | cut -d' ' -f1)
if [ -z "${SCTPLB_VM_REBUILD:-}" ] && [ -s "$vmdir/initramfs-apps.gz" ] &&
	[ "$(cat "$vmdir/apps.stamp" 2>/dev/null)" = "$stamp" ]; then
	log "applications up to date ($(stat -c %s "$vmdir/apps.cpio.gz") bytes)"
	exit 0
fi

root=$vmdir/apps-root
rm -rf "$root"
mkdir -p "$root"/{usr/bin,lib64,lib/x86_64-linux-gnu,usr/lib/freeDiameter,etc/freeDiameter}
libpath=''
for p in "${pkgs[@]}"; do
	for d in "$cache/$p"/usr/lib/x86_64-linux-gnu "$cache/$p"/lib/x86_64-linux-gnu; do
		[ -d "$d" ] && libpath+=${libpath:+:}$d
	done
done
programs=()
for b in freeDiameterd sctp_darn sctp_test checksctp osmo-stp; do
	f=$(ls "$cache"/*/usr/bin/"$b" 2>/dev/null | head -n 1)
	[ -n "$f" ] || die "no $b in the unpacked packages"
	cp "$f" "$root/usr/bin/"
	programs+=("$f")
done
for f in "$cache"/freediameter-extensions/usr/lib/freeDiameter/*.fdx; do
	cp "$f" "$root/usr/lib/freeDiameter/"
	programs+=("$f")
done
if [ -n "$echo_fdx" ]; then
	cp "$echo_fdx" "$root/usr/lib/freeDiameter/"
	programs+=("$echo_fdx")
fi
if [ -n "$m3ua_ping" ]; then
	cp "$m3ua_ping" "$root/usr/bin/"
	programs+=("$m3ua_ping")
fi
# Every shared object the programs and plugins load (the plugins' own needs included).
# Libraries land in /lib/x86_64-linux-gnu under their soname, the loader in /lib64.
libs=$(LD_LIBRARY_PATH=$libpath ldd "${programs[@]}" 2>&1) || die "ldd failed: $libs"
if grep -q 'not found' <<<"$libs"; then die "unresolved libraries: $(grep 'not found' <<<"$libs" | sort -u | tr '\n' ' ')"; fi
while read -r soname path; do
	cp -L "$path" "$root/lib/x86_64-linux-gnu/$soname"
done < <(sed -n 's/^\s*\(\S*\) => \(\/\S*\) (.*/\1 \2/p' <<<"$libs" | sort -u)
# dlopen()ed by glibc's pthread_cancel (freeDiameter's shutdown), so ldd never names it.
gcc_s=$(ldconfig -p | sed -n 's/^\s*libgcc_s\.so\.1 (libc6,x86-64) => //p' | head -n 1)
[ -n "$gcc_s" ] || die "no libgcc_s.so.1 on the host (Debian package libgcc-s1)"
cp -L "$gcc_s" "$root/lib/x86_64-linux-gnu/libgcc_s.so.1"
loader=$(sed -n 's/^\s*\(\/lib64\/ld-linux\S*\) (.*/\1/p' <<<"$libs" | sort -u | head -n 1)
[ -n "$loader" ] || die "no program loader in ldd's output"
cp -L "$loader" "$root$loader"
strip -s "$root"/usr/bin/* "$root"/lib/x86_64-linux-gnu/* 2>/dev/null || true

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) >"$vmdir/apps.cpio.gz"
cat "$vmdir/initramfs.gz" "$vmdir/apps.cpio.gz" >"$vmdir/initramfs-apps.gz.new"
mv "$vmdir/initramfs-apps.gz.new" "$vmdir/initramfs-apps.gz"
{
	echo "packages: ${stamp_parts[*]}"
	echo "programs: $(cd "$root" && ls usr/bin | tr '\n' ' ')"
	echo "test extension: ${echo_fdx:-none (test-apps/diameter-echo not built)}"
	echo "m3ua test program: ${m3ua_ping:-none (test-apps/m3ua-ping not built)}"
	echo "libraries: $(ls "$root/lib/x86_64-linux-gnu" | wc -l) ($(du -sk "$root" | cut -f1) kB unpacked)"
	echo "apps.cpio.gz: $(stat -c %s "$vmdir/apps.cpio.gz") bytes"
} >"$vmdir/apps.info"
echo "$stamp" >"$vmdir/apps.stamp"
log "applications packed: $(stat -c %s "$vmdir/apps.cpio.gz") bytes, $((($(date +%s%N) - t0) / 1000000)) ms"
