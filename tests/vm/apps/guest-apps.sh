#!/bin/sh
# shellcheck shell=dash
# apps: guest side of the VM suite's application scenarios (tests/vm/test-vm-apps.sh). The
# test writes this file to /usr/bin/apps in each guest at boot (vm_setup) and calls it through
# the serial control channel; everything it prints is one record a line, parsed by the host.
#   apps snmp                     "aborts N estab N ootb N indata N" (/proc/net/sctp/snmp;
#                                 indata: DATA chunks received, ordered + unordered)
#   apps assocs PORT              one line per association with local or remote port PORT:
#                                 "LPORT RPORT ST LADDRS|RADDRS" (/proc/net/sctp/assocs)
#   apps paths PORT               "ASSOC-ID ADDR STATE" per peer address of those associations
#                                 (/proc/net/sctp/remaddr; STATE 0 inactive, 1 potentially
#                                 failed, 2 active, 3 unconfirmed)
#   apps paths_detail PORT        for a failure report: each association's /proc/net/sctp/assocs
#                                 line (TX_QUEUE RX_QUEUE) and its remaddr lines (HB_ACT RTO
#                                 MAX_PATH_RTX REM_ADDR_RTX START STATE)
#   apps darn ID HA HB LPORT PORT VIPA VIPB   start an sctp_darn client bound to HA and HB
#                                 (sctp_bindx), port LPORT, connecting to both VIPs (connectx),
#                                 sending a line every 0.2 s until /tmp/darn-ID.stop exists
#   apps darn_count ID...          "ID NEW GONE ERR": new connections, lost ones, errors in the logs
#   apps fd_start NAME            freeDiameterd -c /etc/freeDiameter/NAME.conf, log /var/log/NAME.log
#   apps fd_count NAME...          "NAME OPENED LEFT CEA DWA DWA-BAD ID-REFUSED CEA-BAD" from a
#                                 freeDiameter log (Result-Code 2001 counted as good)
set -u
cmd=${1:?usage: apps snmp|assocs|paths|paths_detail|darn|darn_count|fd_start|fd_count}
shift
case $cmd in
snmp)
	awk '$1 == "SctpAborteds" { a = $2 } $1 == "SctpCurrEstab" { e = $2 }
		$1 == "SctpOutOfBlues" { o = $2 } $1 ~ /^SctpIn(Order|Unorder)Chunks$/ { d += $2 }
		END { print "aborts", a, "estab", e, "ootb", o, "indata", d }' /proc/net/sctp/snmp
	;;
assocs)
	# LADDRS and RADDRS are separated by "<->"; a '*' marks the primary path.
	awk -v p="$1" 'NR > 1 && ($12 == p || $13 == p) {
		s = ""; for (i = 14; i <= NF && $i != "<->"; i++) s = s (s == "" ? "" : ",") $i
		r = ""; for (i++; i <= NF && $i ~ /^[*0-9a-f]/ && $i ~ /[.:]/; i++) r = r (r == "" ? "" : ",") $i
		gsub(/\*/, "", r); print $12, $13, $5, s "|" r }' /proc/net/sctp/assocs
	;;
paths)
	ids=$(awk -v p="$1" 'NR > 1 && ($12 == p || $13 == p) { print $7 }' /proc/net/sctp/assocs)
	for id in $ids; do awk -v id="$id" 'NR > 1 && $2 == id { print id, $1, $NF }' /proc/net/sctp/remaddr; done
	;;
paths_detail)
	head -n 1 /proc/net/sctp/assocs
	head -n 1 /proc/net/sctp/remaddr
	ids=$(awk -v p="$1" 'NR > 1 && ($12 == p || $13 == p) { print $7 }' /proc/net/sctp/assocs)
	for id in $ids; do
		awk -v id="$id" 'NR > 1 && $7 == id' /proc/net/sctp/assocs
		awk -v id="$id" 'NR > 1 && $2 == id { print "   ", $0 }' /proc/net/sctp/remaddr
	done
	;;
darn)
	id=$1 ha=$2 hb=$3 lport=$4 port=$5 va=$6 vb=$7
	rm -f "/tmp/darn-$id.stop"
	(i=0; while [ ! -e "/tmp/darn-$id.stop" ]; do i=$((i + 1)); echo "darn-$id message $i"; sleep 0.2; done |
		sctp_darn -H "$ha" -B "$hb" -P "$lport" -p "$port" -c "$va" -c "$vb" -s \
			>"/var/log/darn-$id.log" 2>&1) </dev/null >/dev/null 2>&1 &
	;;
darn_count)
	for id in "$@"; do
		f=/var/log/darn-$id.log
		echo "$id $(grep -c 'New connection' "$f") $(grep -c -e 'No association' -e 'Old association gone' "$f") $(grep -c -i -e 'error' -e 'failed' "$f")"
	done
	;;
fd_start)
	name=$1
	freeDiameterd -c "/etc/freeDiameter/$name.conf" </dev/null >"/var/log/$name.log" 2>&1 &
	echo $! >"/tmp/$name.pid"
	;;
fd_count)
	# Per instance: OPEN entered, OPEN left, CEA/DWA with Result-Code 2001 and with another, the
	# CEAs refused for their Origin-Host (another server's identity: p_ce.c), from its log.
	for name in "$@"; do
		awk -v n="$name" '
			/->[[:space:]]*.STATE_OPEN./ { opened++ }
			/.STATE_OPEN.[[:space:]]*->/ { left++ }
			/Capabilities-Exchange-Answer/ && /RCV/ { if (/Result-Code[^,]*2001/) cea++; else ceabad++ }
			/Device-Watchdog-Answer/ && /RCV/ { if (/Result-Code[^,]*2001/) dwa++; else dwabad++ }
			/Origin-Host set to/ { idbad++ }
			END { print n, opened + 0, left + 0, cea + 0, dwa + 0, dwabad + 0, idbad + 0, ceabad + 0 }' "/var/log/$name.log"
	done
	;;
*) echo "apps: unknown command $cmd" >&2; exit 2 ;;
esac
