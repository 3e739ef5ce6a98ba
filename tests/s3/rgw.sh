#!/bin/bash
# rgw.sh: a throwaway single-node Ceph cluster with the RADOS Gateway on loopback,
# used as the real S3 server of the tests, the demo and the benchmarks.
#
# One monitor, one memstore OSD (objects live in RAM) and radosgw's beast frontend,
# with no mgr and no cephx. Everything a cluster writes (config, pid files, sockets,
# logs, mon store) lives under the directory given on the command line, and every
# ceph command is run with `-c DIR/ceph.conf`, so several clusters can run side by
# side and nothing reads or writes /etc/ceph, /var/lib/ceph or /var/log/ceph.
# Every daemon binds 127.0.0.1 only and nothing here ever resolves a host name.
# Background and measured behaviour: ../shared/S3-SERVER.md.
set -euo pipefail

readonly PROG=${0##*/}
readonly PACKAGES=(ceph-mon ceph-osd radosgw python3-botocore s3cmd curl)
# Ceph-wide default is 300 s of retrying; a dead monitor must fail a command fast.
readonly CEPH_TIMEOUT=10
START_TIMEOUT=${RGW_START_TIMEOUT:-90}
# The cluster directory (absolute) and the start deadline, set by the commands;
# cleared so that variables of the same name in the environment cannot leak in.
DIR=
DEADLINE=

usage() {
	cat <<EOF
usage: $PROG install
       $PROG start DIR [--port PORT]
       $PROG stop DIR
       $PROG status DIR
       $PROG stop-gateway DIR
       $PROG start-gateway DIR

Runs a throwaway Ceph cluster (1 mon, 1 memstore OSD, radosgw) under DIR,
serving S3 on http://127.0.0.1:PORT only.

  install      install the Debian packages it needs, if missing
  start        create DIR (absent or empty), start the cluster, create the
               users and the bucket, write DIR/env and print it; without
               --port a free port is picked
  stop         stop the daemons by their pid files and remove DIR
  status       show whether the daemons run and S3 answers (exit 1 if not)
  stop-gateway   stop only radosgw (by its pid file), keeping the monitor,
                 the OSD and the objects: S3 connections are refused
  start-gateway  start radosgw again on the same port and wait until S3
                 answers (stop-gateway + start-gateway: a store outage)

Environment for start (defaults in brackets):
  RGW_ACCESS_KEY     [TESTACCESSKEY0000001]                  user 'tester'
  RGW_SECRET_KEY     [testsecretkey/with+special=chars0001]
  RGW_BUCKET         [warehouse]                             owned by 'tester'
  RGW_START_TIMEOUT  [90]                                    seconds
A second user 'other' (OTHERACCESSKEY000001) has no rights on 'tester's buckets.

DIR/env holds RGW_ENDPOINT RGW_PORT RGW_ACCESS_KEY RGW_SECRET_KEY
RGW_OTHER_ACCESS_KEY RGW_OTHER_SECRET_KEY RGW_BUCKET RGW_DIR as shell
assignments: set -a; . DIR/env; set +a
EOF
}

die() {
	echo "$PROG: $*" >&2
	exit 1
}

# Print the end of a log so a failed start says why without a second look.
show_log() {
	local log=$1
	if [[ -s $log ]]; then
		echo "--- last lines of $log ---" >&2
		tail -n 25 "$log" >&2
		echo "---" >&2
	fi
}

cmd_install() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0
	local sudo=()
	((EUID == 0)) || sudo=(sudo)
	echo "$PROG: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	# The package lists are refreshed only when needed: an update costs time and
	# the machine's lists are usually recent enough.
	if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; then
		"${sudo[@]}" apt-get update
		"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
	fi
}

# Print N distinct ports that 127.0.0.1 can bind right now. They are drawn at random
# below the kernel's ephemeral range (32768+), so outgoing connections cannot take them
# before the daemons bind, and above Ceph's OSD range (6800-7300). Random, so that two
# starts running at once are unlikely to pick the same ports.
free_ports() {
	python3 - "$1" <<'EOF'
import random, socket, sys
n, found = int(sys.argv[1]), []
for port in random.sample(range(20000, 32000), 2000):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    found.append(port)
    if len(found) == n:
        print(*found)
        sys.exit(0)
sys.exit("no free port found")
EOF
}

port_is_free() {
	python3 -c 'import socket,sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' \
		"$1" 2>/dev/null
}

# Quote a value for a POSIX shell (and Python's shlex): '...' with ' as '\''.
shquote() {
	printf "'%s'" "${1//\'/\'\\\'\'}"
}

write_conf() {
	local dir=$1 port=$2 mon_v2=$3 mon_v1=$4 fsid=$5
	cat >"$dir/ceph.conf" <<EOF
# Written by $PROG for a throwaway test cluster; removed by '$PROG stop $dir'.
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$mon_v2,v1:127.0.0.1:$mon_v1]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_ipv6 = false

# No cephx: nothing to leak, nothing to set up. radosgw would still ask for a
# "secure" connection to the monitor, which auth none cannot give, and retry for
# 300 s, hence the client mode.
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_mon_client_mode = crc secure
keyring = $dir/keyring

# Keep every file inside this directory so clusters never share anything.
run_dir = $dir/run
admin_socket = \$run_dir/\$name.asok
pid_file = \$run_dir/\$name.pid
log_file = $dir/log/\$name.log
crash_dir = $dir/crash
mon_cluster_log_file = default=$dir/log/\$channel.log cluster=$dir/log/cluster.log
mon_data = $dir/mon/\$name
osd_data = $dir/osd/\$name
rgw_data = $dir/rgw/\$name

# Without these each osdmap change waits 1 s and a start takes ~13 s, not ~1 s.
paxos_propose_interval = 0.01
paxos_min_wait = 0.01

# One OSD: pools of one replica, few PGs, no autoscaler (there is no mgr).
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_crush_chooseleaf_type = 0
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_max_pg_per_osd = 1000

[client]
# The ceph CLI and radosgw-admin may run several at once: one socket each.
admin_socket = \$run_dir/\$name.\$pid.asok

[osd]
osd_objectstore = memstore
memstore_device_bytes = 4294967296

[client.rgw.a]
admin_socket = \$run_dir/\$name.asok
rgw_frontends = beast endpoint=127.0.0.1:$port
# Virtual-hosted addressing as bucket.s3.test, reached with CURLOPT_RESOLVE.
rgw_dns_name = s3.test
# Tests send x-amz-server-side-encryption over plain HTTP to check it is signed.
rgw_crypt_require_ssl = false
rgw_thread_pool_size = 64
EOF
}

# ceph and radosgw-admin against this cluster only.
ceph_() {
	ceph -c "$DIR/ceph.conf" --connect-timeout "$CEPH_TIMEOUT" "$@"
}
rgw_admin() {
	radosgw-admin -c "$DIR/ceph.conf" "$@"
}

# Start a daemon; it forks and writes its pid file. Its stdout and stderr, which
# hold what goes wrong before its log is open, go to DIR/log/NAME.out.
start_daemon() {
	local name=$1
	shift
	if ! "$@" -c "$DIR/ceph.conf" >>"$DIR/log/$name.out" 2>&1; then
		show_log "$DIR/log/$name.out"
		show_log "$DIR/log/$name.log"
		die "cannot start $name"
	fi
}

# Fail the start if a daemon died: waiting out the timeout would hide the reason.
check_alive() {
	local name=$1
	daemon_running "$name" && return 0
	show_log "$DIR/log/$name.out"
	show_log "$DIR/log/$name.log"
	die "$name is not running"
}

deadline_passed() {
	((SECONDS >= DEADLINE))
}

http_status() {
	# --noproxy: a proxy from the environment must never see this traffic.
	curl -s -o /dev/null -w '%{http_code}' --noproxy '*' --max-time 2 \
		"http://127.0.0.1:$1/" 2>/dev/null || true
}

# Whether daemon NAME of this cluster runs, by its pid file. A pid file can outlive
# its process and the pid be reused, so the process must also run with this
# cluster's ceph.conf. A zombie counts as gone: the daemons fork away from us, and
# the init of some sandboxes reaps orphans only seconds later.
daemon_running() {
	local name=$1 pid state
	pid=$(cat "$DIR/run/$name.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
	[[ $state != Z ]] || return 1
	tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF "$DIR/ceph.conf"
}

start_failed() {
	local rc=$?
	trap - EXIT
	kill_daemons || true
	echo "$PROG: start failed; logs kept in $DIR/log, remove with: $0 stop $DIR" >&2
	exit "$rc"
}

cmd_start() {
	local port=
	while (($#)); do
		case $1 in
		--port)
			(($# >= 2)) || die "--port needs a value"
			port=$2
			shift 2
			;;
		--port=*)
			port=${1#--port=}
			shift
			;;
		-*) die "unknown option '$1'" ;;
		*)
			[[ -z ${DIR:-} ]] || die "unexpected argument '$1'"
			DIR=$1
			shift
			;;
		esac
	done
	[[ -n ${DIR:-} ]] || die "start needs a directory"
	if [[ -n $port ]]; then
		if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
			die "bad port '$port'"
		fi
	fi

	local access=${RGW_ACCESS_KEY:-TESTACCESSKEY0000001}
	local secret=${RGW_SECRET_KEY:-testsecretkey/with+special=chars0001}
	local bucket=${RGW_BUCKET:-warehouse}
	local other_access=OTHERACCESSKEY000001
	local other_secret=othersecretkey000000000000000000000001
	# curl --user splits at the first ':' and ceph keys cannot hold whitespace.
	[[ $access != *[:[:space:]]* && $secret != *[[:space:]]* ]] ||
		die "RGW_ACCESS_KEY must not contain ':' or spaces, RGW_SECRET_KEY no spaces"

	cmd_install
	local t0=${EPOCHREALTIME/./}
	DEADLINE=$((SECONDS + START_TIMEOUT))

	if [[ -e $DIR ]]; then
		[[ -d $DIR ]] || die "'$DIR' exists and is not a directory"
		[[ -z $(ls -A "$DIR") ]] || die "'$DIR' is not empty"
	fi

	# Three free ports: the gateway's unless one was asked for, then the monitor's
	# (v2 and v1 protocols), skipping the asked-for port should it be among them.
	local free p mon_ports=()
	[[ -z $port ]] || port_is_free "$port" || die "port $port on 127.0.0.1 is in use"
	free=$(free_ports 3) || die "cannot find free ports on 127.0.0.1"
	for p in $free; do
		if [[ -z $port ]]; then
			port=$p
		elif [[ $p != "$port" ]]; then
			mon_ports+=("$p")
		fi
	done
	local mon_v2=${mon_ports[0]} mon_v1=${mon_ports[1]}

	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd)
	# A unix socket path holds at most 107 bytes; a longer one leaves the daemon
	# without its admin socket, which is hard to diagnose later.
	if ((${#DIR} > 80)); then
		rmdir "$DIR"
		die "'$DIR' is too long for unix sockets (80 characters at most)"
	fi
	mkdir -p "$DIR"/{run,log,crash,mon/mon.a,osd/osd.0,rgw/client.rgw.a}
	# From here on a failed start must not leave daemons behind; the logs stay
	# for a look, and '$PROG stop DIR' removes them.
	trap 'start_failed' EXIT

	local fsid osd_uuid
	fsid=$(cat /proc/sys/kernel/random/uuid)
	osd_uuid=$(cat /proc/sys/kernel/random/uuid)
	write_conf "$DIR" "$port" "$mon_v2" "$mon_v1" "$fsid"

	# Monitor.
	monmaptool --create --fsid "$fsid" \
		--addv a "[v2:127.0.0.1:$mon_v2,v1:127.0.0.1:$mon_v1]" \
		"$DIR/monmap" >"$DIR/log/monmaptool.out" 2>&1 ||
		{ show_log "$DIR/log/monmaptool.out"; die "monmaptool failed"; }
	ceph-mon -c "$DIR/ceph.conf" --mkfs -i a --monmap "$DIR/monmap" \
		>"$DIR/log/mon.a.out" 2>&1 ||
		{ show_log "$DIR/log/mon.a.out"; die "ceph-mon --mkfs failed"; }
	start_daemon mon.a ceph-mon -i a

	# OSD: register it, make its store, start it, wait until the map says it is up.
	local id
	id=$(ceph_ osd new "$osd_uuid" 0 2>"$DIR/log/ceph-osd-new.out") ||
		{ show_log "$DIR/log/ceph-osd-new.out"; show_log "$DIR/log/mon.a.log"; die "'ceph osd new' failed"; }
	[[ $id == 0 ]] || die "'ceph osd new' gave id '$id', not 0"
	ceph-osd -c "$DIR/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" \
		>"$DIR/log/osd.0.out" 2>&1 ||
		{ show_log "$DIR/log/osd.0.out"; show_log "$DIR/log/osd.0.log"; die "ceph-osd --mkfs failed"; }
	start_daemon osd.0 ceph-osd -i 0
	until ceph_ osd stat -f json 2>/dev/null | grep -q '"num_up_osds":1'; do
		check_alive mon.a
		check_alive osd.0
		if deadline_passed; then
			show_log "$DIR/log/osd.0.log"
			die "osd.0 not up after ${START_TIMEOUT}s"
		fi
		sleep 0.1
	done

	# Gateway: it creates its pools on first start, then answers GET / with 200.
	start_daemon client.rgw.a radosgw -n client.rgw.a
	until [[ $(http_status "$port") == 200 ]]; do
		check_alive client.rgw.a
		if deadline_passed; then
			show_log "$DIR/log/client.rgw.a.log"
			die "radosgw does not answer on http://127.0.0.1:$port/ after ${START_TIMEOUT}s"
		fi
		sleep 0.1
	done

	# Users, then the bucket, created through S3 itself so that 'tester' owns it.
	rgw_admin user create --uid tester --display-name tester \
		--access-key "$access" --secret-key "$secret" >"$DIR/log/user-tester.out" 2>&1 ||
		{ show_log "$DIR/log/user-tester.out"; die "cannot create user 'tester'"; }
	rgw_admin user create --uid other --display-name other \
		--access-key "$other_access" --secret-key "$other_secret" >"$DIR/log/user-other.out" 2>&1 ||
		{ show_log "$DIR/log/user-other.out"; die "cannot create user 'other'"; }
	local code
	code=$(curl -s -o "$DIR/log/create-bucket.out" -w '%{http_code}' --noproxy '*' \
		--max-time 30 -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" \
		--user "$access:$secret" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
		"http://127.0.0.1:$port/$bucket") || true
	[[ $code == 200 ]] ||
		{ show_log "$DIR/log/create-bucket.out"; die "cannot create bucket '$bucket': HTTP $code"; }

	{
		echo "RGW_ENDPOINT=$(shquote "http://127.0.0.1:$port")"
		echo "RGW_PORT=$(shquote "$port")"
		echo "RGW_ACCESS_KEY=$(shquote "$access")"
		echo "RGW_SECRET_KEY=$(shquote "$secret")"
		echo "RGW_OTHER_ACCESS_KEY=$(shquote "$other_access")"
		echo "RGW_OTHER_SECRET_KEY=$(shquote "$other_secret")"
		echo "RGW_BUCKET=$(shquote "$bucket")"
		echo "RGW_DIR=$(shquote "$DIR")"
	} >"$DIR/env"
	trap - EXIT
	cat "$DIR/env"
	local ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
	printf '%s: started in %d.%02ds; stop with: %s stop %s\n' \
		"$PROG" $((ms / 1000)) $((ms % 1000 / 10)) "$0" "$DIR" >&2
}

# A directory this script made: refuse to kill or delete anything else.
require_cluster_dir() {
	[[ -n ${DIR:-} ]] || die "$1 needs a directory"
	[[ -d $DIR ]] || die "'$DIR' does not exist"
	DIR=$(cd "$DIR" && pwd)
	[[ -f $DIR/ceph.conf && -d $DIR/run ]] || die "'$DIR' is not a cluster made by $PROG"
}

# Stop this cluster's daemons (all, or those named) by their pid files and wait
# until they are gone.
kill_daemons() {
	local name pid pids=() names=("$@")
	# Gateway first, then the OSD, then the monitor: each depends on the next.
	((${#names[@]})) || names=(client.rgw.a osd.0 mon.a)
	for name in "${names[@]}"; do
		daemon_running "$name" || continue
		pid=$(cat "$DIR/run/$name.pid")
		kill -TERM "$pid" 2>/dev/null || true
		pids+=("$name:$pid")
	done
	# A graceful shutdown takes ~6 s and the data is thrown away anyway, so the
	# daemons get a short grace to flush their logs, then SIGKILL.
	local i entry alive
	for i in {1..60}; do
		alive=0
		for entry in "${pids[@]}"; do
			daemon_running "${entry%%:*}" && alive=1
		done
		((alive)) || return 0
		if ((i == 10)); then
			for entry in "${pids[@]}"; do
				if daemon_running "${entry%%:*}"; then
					kill -KILL "${entry#*:}" 2>/dev/null || true
				fi
			done
		fi
		sleep 0.05
	done
	for entry in "${pids[@]}"; do
		! daemon_running "${entry%%:*}" || die "${entry%%:*} (pid ${entry#*:}) does not exit"
	done
}

cmd_stop() {
	DIR=${1:-}
	require_cluster_dir stop
	kill_daemons
	rm -rf -- "$DIR"
}

# The gateway's port, from DIR/env.
gateway_port() {
	local port
	port=$(sed -n "s/^RGW_PORT='\(.*\)'$/\1/p" "$DIR/env" 2>/dev/null) || true
	[[ $port =~ ^[0-9]+$ ]] || die "no RGW_PORT in '$DIR/env': was the cluster started?"
	echo "$port"
}

cmd_stop_gateway() {
	DIR=${1:-}
	require_cluster_dir stop-gateway
	gateway_port >/dev/null
	kill_daemons client.rgw.a
}

cmd_start_gateway() {
	DIR=${1:-}
	require_cluster_dir start-gateway
	local port
	port=$(gateway_port)
	daemon_running client.rgw.a && die "radosgw of '$DIR' is already running"
	check_alive mon.a
	check_alive osd.0
	DEADLINE=$((SECONDS + START_TIMEOUT))
	rm -f "$DIR/run/client.rgw.a.pid"
	start_daemon client.rgw.a radosgw -n client.rgw.a
	until [[ $(http_status "$port") == 200 ]]; do
		check_alive client.rgw.a
		if deadline_passed; then
			show_log "$DIR/log/client.rgw.a.log"
			die "radosgw does not answer on http://127.0.0.1:$port/ after ${START_TIMEOUT}s"
		fi
		sleep 0.1
	done
}

cmd_status() {
	DIR=${1:-}
	require_cluster_dir status
	local name ok=1 port
	for name in mon.a osd.0 client.rgw.a; do
		if daemon_running "$name"; then
			echo "$name: running (pid $(cat "$DIR/run/$name.pid"))"
		else
			echo "$name: not running"
			ok=0
		fi
	done
	if [[ -f $DIR/env ]]; then
		port=$(sed -n "s/^RGW_PORT='\(.*\)'$/\1/p" "$DIR/env")
		echo "s3: GET http://127.0.0.1:$port/ -> HTTP $(http_status "$port")"
		[[ $(http_status "$port") == 200 ]] || ok=0
		cat "$DIR/env"
	else
		echo "s3: not set up (no $DIR/env)"
		ok=0
	fi
	((ok))
}

main() {
	(($#)) || { usage >&2; exit 2; }
	local cmd=$1
	shift
	case $cmd in
	install) cmd_install ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	status) cmd_status "$@" ;;
	stop-gateway) cmd_stop_gateway "$@" ;;
	start-gateway) cmd_start_gateway "$@" ;;
	-h | --help | help) usage ;;
	*) usage >&2; exit 2 ;;
	esac
}

main "$@"
