#!/usr/bin/env bash
# The Debian package end to end: build it with the project's own command (cpack on the
# build tree), lintian (no errors), install it, verify the units with systemd-analyze
# (without starting them; no systemd needs to run), check the files, the man page (every
# command of `sctplb help`), the completion, `sctplb config check` on the example and on a
# bad file, then remove and purge it and check nothing is left.
#   test-package.sh help | [run]
set -eu

case "${1:-run}" in
  help | -h | --help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  run) ;;
  *) echo "test-package.sh: unknown command '$1' (try help)" >&2; exit 2 ;;
esac

build=${SCTPLB_BUILD_DIR:?set SCTPLB_BUILD_DIR (ctest does)}
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

[ "$(id -u)" -eq 0 ] || skip "needs root (dpkg -i)"
for tool in cpack dpkg lintian systemd-analyze man; do
  command -v "$tool" >/dev/null || skip "$tool is missing (./run.sh test installs it)"
done
[ -f "$build/packaging/sctplb.8.gz" ] || skip "no man page in the build (pandoc was missing at configure time)"
if dpkg-query -W -f='${Status}' sctplb 2>/dev/null | grep -q "ok installed"; then
  skip "a package sctplb is installed on this machine already: not touching it"
fi

tmp=$(mktemp -d /tmp/sctplb-package.XXXXXX)
installed=0
cleanup() {
  if [ $installed -eq 1 ]; then dpkg_retry --purge sctplb >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# dpkg waits for nobody: retry while another apt/dpkg holds the lock (shared machine).
dpkg_retry() {
  local i
  for i in $(seq 60); do
    if dpkg "$@" 2>"$tmp/dpkg.err"; then return 0; fi
    grep -q "lock" "$tmp/dpkg.err" || { cat "$tmp/dpkg.err" >&2; return 1; }
    sleep 1
  done
  cat "$tmp/dpkg.err" >&2
  return 1
}

# 1. Build the package.
cpack -G DEB -B "$tmp/out" --config "$build/CPackConfig.cmake" >"$tmp/cpack.log" 2>&1 ||
  { cat "$tmp/cpack.log"; fail "cpack"; }
deb=$(ls "$tmp"/out/sctplb_*.deb)
ok "built $(basename "$deb")"

# 2. lintian: errors fail, warnings are shown.
lintian --tag-display-limit 0 "$deb" >"$tmp/lintian.log" 2>&1 || true
cat "$tmp/lintian.log"
if grep -q '^E: ' "$tmp/lintian.log"; then fail "lintian reports errors"; fi
ok "lintian: no errors ($(grep -c '^W: ' "$tmp/lintian.log" || true) warnings)"

# 3. Install.
installed=1
dpkg_retry -i "$deb" >/dev/null || fail "dpkg -i"
ok "installed"
for f in /usr/bin/sctplb /usr/lib/systemd/system/sctplb@.service /usr/lib/systemd/system/sctplb-health@.service \
  /usr/lib/systemd/system/sctplb-metrics@.service /usr/share/man/man8/sctplb.8.gz \
  /usr/share/bash-completion/completions/sctplb /usr/share/doc/sctplb/examples/example.conf \
  /usr/share/doc/sctplb/copyright /usr/share/doc/sctplb/changelog.gz; do
  [ -e "$f" ] || fail "$f is not installed"
done
/usr/bin/sctplb --version | grep -q '^sctplb ' || fail "sctplb --version"
ok "files in place"

# 4. The units, verified but never started (with the binary and man page now installed).
for unit in sctplb@pkgtest.service sctplb-health@pkgtest.service sctplb-metrics@pkgtest.service; do
  if ! systemd-analyze verify "$unit" >"$tmp/verify.log" 2>&1; then
    cat "$tmp/verify.log"
    fail "systemd-analyze verify $unit"
  fi
  # systemd-analyze can exit 0 with complaints about the unit itself: none allowed.
  if grep -q "sctplb" "$tmp/verify.log"; then cat "$tmp/verify.log"; fail "systemd-analyze verify $unit"; fi
done
ok "systemd-analyze verify: the three units"

# 5. The man page renders and holds every command that `sctplb help` lists.
man -l /usr/share/man/man8/sctplb.8.gz 2>/dev/null | grep -q "CONFIGURATION FILE" || fail "man -l: no CONFIGURATION FILE section"
commands=$(/usr/bin/sctplb help | sed -n '/^Commands:/,/^$/p' | awk 'NF >= 2 && $1 != "Commands:" { print $1 }')
[ -n "$commands" ] || fail "sctplb help lists no commands"
zcat /usr/share/man/man8/sctplb.8.gz >"$tmp/sctplb.8"
for c in $commands; do
  grep -qx "\.SS $c" "$tmp/sctplb.8" || fail "man page: no section for command '$c'"
done
ok "man page: all $(echo "$commands" | wc -w) commands"

# 6. Completion: commands and one command's options, from the installed binary.
words=$(bash -c '. /usr/share/bash-completion/completions/sctplb
  COMP_WORDS=(sctplb con); COMP_CWORD=1; _sctplb sctplb con sctplb; echo "${COMPREPLY[*]}"
  COMP_WORDS=(sctplb lb --sync-k); COMP_CWORD=2; _sctplb sctplb --sync-k lb; echo "${COMPREPLY[*]}"')
[ "$words" = "config
--sync-key" ] || fail "completion gave: $words"
ok "bash completion"

# 7. sctplb config check: the shipped example passes; a bad file gets one line per
#    mistake naming file:line and the key, exit status 1.
mkdir "$tmp/etc"
cp /usr/share/doc/sctplb/examples/example.conf "$tmp/etc/demo.conf"
/usr/bin/sctplb config check --dir "$tmp/etc" demo >"$tmp/check.out" 2>&1 || { cat "$tmp/check.out"; fail "example.conf"; }
printf '# bad\nLB_OPTIONS=--queue=2\nLB_OPTION=--queue=3\n' >"$tmp/etc/bad.conf"
status=0
/usr/bin/sctplb config check --dir "$tmp/etc" bad >"$tmp/check.out" 2>&1 || status=$?
expected="sctplb config: $tmp/etc/bad.conf:3: unknown key 'LB_OPTION' (known: INIT_OPTIONS, TARGETS, RULES_OPTIONS, LB_OPTIONS, HEALTH_OPTIONS, METRICS_OPTIONS)"
[ $status -eq 1 ] || fail "bad.conf: exit status $status, not 1"
[ "$(cat "$tmp/check.out")" = "$expected" ] || { cat "$tmp/check.out"; fail "bad.conf: not the one expected line"; }
printf 'LB_OPTIONS="--queue=2 --no-such-option"\n' >"$tmp/etc/opt.conf"
/usr/bin/sctplb config check --dir "$tmp/etc" opt >"$tmp/check.out" 2>&1 && fail "opt.conf passed"
grep -qx "sctplb config: $tmp/etc/opt.conf:1: LB_OPTIONS: unknown option --no-such-option.*" "$tmp/check.out" ||
  { cat "$tmp/check.out"; fail "opt.conf: no file:line: key: message line"; }
ok "config check: example passes, unknown key and unknown option named with file:line"

# 8. Remove, purge: nothing of the package is left.
dpkg_retry -r sctplb >/dev/null || fail "dpkg -r"
for f in /usr/bin/sctplb /usr/lib/systemd/system/sctplb@.service /usr/share/man/man8/sctplb.8.gz \
  /usr/share/bash-completion/completions/sctplb /usr/share/doc/sctplb; do
  [ ! -e "$f" ] || fail "$f is left after dpkg -r"
done
dpkg_retry --purge sctplb >/dev/null || fail "dpkg --purge"
installed=0
if dpkg-query -W -f='${Status}' sctplb 2>/dev/null | grep -q "installed"; then fail "sctplb still known to dpkg after purge"; fi
ok "removed and purged, nothing left"
echo "PASS"
