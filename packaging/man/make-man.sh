#!/usr/bin/env bash
# Builds sctplb(8) from the hand-written page (sctplb.8.md) and, for the COMMANDS section,
# from the binary itself: `sctplb help` lists the commands, `sctplb CMD --help` gives each
# one's usage, description and option table. A new command in main.cpp is in the page at
# the next build, with no edit here.
#   make-man.sh SCTPLB_BINARY PAGE.md VERSION OUTPUT.8.gz
set -eu

usage() { echo "usage: $0 SCTPLB_BINARY PAGE.md VERSION OUTPUT.8.gz" >&2; exit 2; }
[ $# -eq 4 ] || usage
bin=$1 page=$2 version=$3 out=$4

# Markdown-escape text that came from the binary.
md() { sed -e 's/[][\\`*_<>|#]/\\&/g'; }

commands() {
  "$bin" help | sed -n '/^Commands:/,/^$/p' | awk 'NF >= 2 && $1 != "Commands:" { print $1 }'
}

# One command: its summary line from `sctplb help`, then its --help as usage (verbatim),
# description (paragraph) and options (a definition list).
command_section() {
  local name=$1 summary
  summary=$("$bin" help | awk -v n="$name" '$1 == n { $1 = ""; sub(/^ +/, ""); print }')
  printf '## %s\n\n%s\n\n' "$name" "$(printf '%s' "$summary" | md)"
  [ "$name" = version ] && return 0
  "$bin" "$name" --help | awk '
    function esc(s) { gsub(/[][\\`*_<>|#]/, "\\\\&", s); return s }
    BEGIN { part = "usage" }
    part == "usage" && /^Usage: / { sub(/^Usage: /, ""); print "```"; print; next }
    part == "usage" && /^ +/ { sub(/^ +/, "    "); print; next }
    part == "usage" && /^$/ { print "```"; print ""; part = "text"; next }
    part == "text" && /^Options:$/ { print ""; part = "options"; next }
    part == "text" { print esc($0); next }
    part == "options" && /^  -/ {
      line = $0; sub(/^  /, "", line)
      split(line, halves, /  +/)
      left = halves[1]; help = substr(line, length(left) + 1); sub(/^ +/, "", help)
      n = split(left, w, " ")
      term = "**" esc(w[1]) "**"
      for (i = 2; i <= n; i++) term = term " *" esc(w[i]) "*"
      print term; print ":   " esc(help); print ""
    }
  '
  printf '\n'
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
  sed -e "s/@VERSION@/$version/" "$page" | sed -n '1,/^<!-- COMMANDS -->$/p' | sed '$d'
  for c in $(commands); do command_section "$c"; done
  sed -n '/^<!-- COMMANDS -->$/,$p' "$page" | sed '1d'
} >"$tmp/sctplb.8.md"
pandoc --standalone --from markdown-smart --to man "$tmp/sctplb.8.md" -o "$tmp/sctplb.8"
gzip -9n <"$tmp/sctplb.8" >"$out"
