#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for trying `hydra/launcher=slurm` and for CI.
#
#   launchers/slurm-local.sh up       install (Debian packages) and start it; safe to repeat
#   launchers/slurm-local.sh status   say whether every daemon answers; exit 0 only if all do
#   launchers/slurm-local.sh down     stop every daemon it started; safe to repeat
#
# Needs root and apt (Debian 12 / Slurm 22.05). No systemd: the daemons are started directly.
# Accounting is real (slurmdbd on MariaDB, local socket only) because submitit polls job states
# with sacct: without it, a job that dies without writing a result leaves result() waiting forever.
# Liveness is checked by asking each daemon (munge round trip, mariadb-admin ping, sacctmgr,
# scontrol ping, sinfo), never by `kill -0`: here PID 1 does not reap, so dead daemons linger as
# zombies that `kill -0` reports alive.
set -euo pipefail

CLUSTER=deep_pg_local
PARTITION=debug
NODE=localhost
LOG_DIR=/var/log/slurm
DB_SOCKET=/run/mysqld/mysqld.sock
PACKAGES=(slurmctld slurmd slurmdbd slurm-client munge mariadb-server mariadb-client)

say() { echo "slurm-local: $*"; }
die() { echo "slurm-local: error: $*" >&2; exit 1; }
trap 'die "line $LINENO failed: $BASH_COMMAND"' ERR

# --- liveness: each daemon answers a real request ----------------------------------------------
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
db_ok() { mariadb-admin --socket="$DB_SOCKET" ping >/dev/null 2>&1; }
dbd_ok() { timeout 10 sacctmgr -n show cluster format=cluster >/dev/null 2>&1; }
ctld_ok() { timeout 10 scontrol ping 2>/dev/null | grep -q "is UP"; }
node_ok() { timeout 10 sinfo -h -N -n "$NODE" -o %t 2>/dev/null | grep -Eq '^(idle|mix|alloc)'; }

wait_for() {  # wait_for <seconds> <what> <check...>
    local seconds=$1 what=$2; shift 2
    for _ in $(seq "$((seconds * 2))"); do "$@" && return 0; sleep 0.5; done
    die "$what did not come up within ${seconds}s (logs: $LOG_DIR/, /var/log/mysql/)"
}

# The pid in a pid file, if that process is alive and not a zombie.
live_pid() {
    local pid
    [[ -f $1 ]] || return 1
    pid=$(cat "$1" 2>/dev/null) || return 1
    [[ -r /proc/$pid/stat ]] || return 1
    [[ $(awk '{print $3}' "/proc/$pid/stat") != Z ]] || return 1
    echo "$pid"
}

stop_pidfile() {  # stop_pidfile <pidfile> <name>: TERM, wait, then KILL
    local pid
    if pid=$(live_pid "$1"); then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 40); do live_pid "$1" >/dev/null || break; sleep 0.25; done
        if live_pid "$1" >/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
        say "stopped $2 (pid $pid)"
    fi
    rm -f "$1"
}

# --- installation and configuration -------------------------------------------------------------
install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    command -v apt-get >/dev/null || die "apt-get not found: this script needs Debian/Ubuntu packages"
    say "installing ${missing[*]} (about a minute)"
    # Keep package scripts from starting services: this script starts them itself.
    local policy=/usr/sbin/policy-rc.d had_policy=0
    [[ -e $policy ]] && had_policy=1
    [[ $had_policy -eq 1 ]] || printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    local rc=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
        >/tmp/slurm-local-apt.log 2>&1 || rc=$?
    if [[ $rc -ne 0 ]] && grep -q "Unable to locate\|has no installation candidate" /tmp/slurm-local-apt.log; then
        apt-get update -q >>/tmp/slurm-local-apt.log 2>&1 || true
        rc=0
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
            >>/tmp/slurm-local-apt.log 2>&1 || rc=$?
    fi
    [[ $had_policy -eq 1 ]] || rm -f "$policy"
    [[ $rc -eq 0 ]] || die "apt-get install failed (see /tmp/slurm-local-apt.log)"
}

write_config() {
    mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd "$LOG_DIR"
    # slurmd -C reports this machine's CPUs, sockets and memory; leave 512 MB to the system.
    local hw cpus mem
    hw=$(slurmd -C | head -1)
    cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
    mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
    mem=$((mem > 1024 ? mem - 512 : mem))
    cat >/etc/slurm/slurm.conf <<EOF
# Written by launchers/slurm-local.sh: a one-node cluster on localhost.
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# A requeued job waits for the old job credential to expire (default 120 s).
AuthInfo=cred_expire=10
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
# No cgroups or systemd here.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# The defaults schedule every 60 s; tests want seconds.
SchedulerParameters=batch_sched_delay=0,bf_interval=1,sched_interval=2
KillWait=5
ReturnToService=2
MpiDefault=none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    cat >/etc/slurm/slurmdbd.conf <<EOF
# Written by launchers/slurm-local.sh. MariaDB listens on its socket only (--skip-networking);
# root connects through unix_socket authentication, so no password is stored anywhere.
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=/run/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
EOF
    chmod 600 /etc/slurm/slurmdbd.conf
}

start_munge() {
    munge_ok && return 0
    [[ -s /etc/munge/munge.key ]] || mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
    mkdir -p /run/munge && chown munge:munge /run/munge
    rm -f /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged
    wait_for 15 munged munge_ok
    say "munged up"
}

start_mariadb() {
    db_ok && return 0
    mkdir -p /run/mysqld /var/log/mysql && chown mysql:mysql /run/mysqld /var/log/mysql
    if [[ ! -d /var/lib/mysql/mysql ]]; then
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null
    fi
    rm -f /run/mysqld/mysqld.pid "$DB_SOCKET"
    setsid mariadbd --user=mysql --datadir=/var/lib/mysql --skip-networking \
        --socket="$DB_SOCKET" --pid-file=/run/mysqld/mysqld.pid \
        --log-error=/var/log/mysql/error.log </dev/null >/dev/null 2>&1 &
    wait_for 60 mariadbd db_ok
    say "mariadbd up (socket $DB_SOCKET, no TCP)"
}

start_slurmdbd() {
    dbd_ok && return 0
    stop_pidfile /run/slurmdbd.pid "a stale slurmdbd"
    slurmdbd
    wait_for 60 slurmdbd dbd_ok
    if ! sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null
    fi
    say "slurmdbd up (accounting in MariaDB database slurm_acct_db)"
}

start_slurmctld() {
    ctld_ok && return 0
    stop_pidfile /run/slurmctld.pid "a stale slurmctld"
    slurmctld
    wait_for 60 slurmctld ctld_ok
    say "slurmctld up"
}

start_slurmd() {
    if ! node_ok; then
        if ! live_pid /run/slurmd.pid >/dev/null; then
            rm -f /run/slurmd.pid
            slurmd -N "$NODE"
        fi
        # A node that was down (e.g. after `down`) must be told it may take jobs again.
        for _ in $(seq 30); do
            node_ok && break
            scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
            sleep 1
        done
        wait_for 30 "slurmd (node $NODE)" node_ok
    fi
    say "slurmd up; partition '$PARTITION' on node $NODE"
}

cmd_up() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages and starts daemons)"
    install_packages
    write_config
    start_munge
    start_mariadb
    start_slurmdbd
    start_slurmctld
    start_slurmd
    say "cluster '$CLUSTER' is up: try 'sinfo', 'sbatch --wrap hostname', 'sacct'"
}

cmd_down() {
    [[ $(id -u) -eq 0 ]] || die "must run as root"
    # Jobs first, so none is left running without a controller.
    if ctld_ok; then scancel --full --quiet --user=root 2>/dev/null || true; fi
    stop_pidfile /run/slurmd.pid slurmd
    stop_pidfile /run/slurmctld.pid slurmctld
    stop_pidfile /run/slurmdbd.pid slurmdbd
    stop_pidfile /run/mysqld/mysqld.pid mariadbd
    stop_pidfile /run/munge/munged.pid munged
    say "cluster is down"
}

cmd_status() {
    local ok=0 name check
    for name in munge_ok:munged db_ok:mariadbd dbd_ok:slurmdbd ctld_ok:slurmctld node_ok:slurmd; do
        check=${name%%:*}
        if $check; then
            say "${name#*:}: up"
        else
            say "${name#*:}: down"; ok=1
        fi
    done
    return $ok
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) if cmd_status; then exit 0; else exit 1; fi ;;  # no ERR trap: down is an answer
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
