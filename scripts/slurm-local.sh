#!/usr/bin/env bash
# A one-node SLURM cluster on this machine (munge + slurmctld + slurmd on localhost), to try
# `drg sweep --submit` without a real cluster, and for the SLURM test of `.ci/run`.
#
#   sudo scripts/slurm-local.sh start    install slurm-wlm and munge if missing (Debian/Ubuntu
#                                        apt-get), start the daemons, wait for the node
#   eval "$(scripts/slurm-local.sh env)" point sbatch/squeue/scancel at this cluster
#   sudo scripts/slurm-local.sh status   sinfo and squeue
#   sudo scripts/slurm-local.sh stop     stop the daemons this script started (by their pids)
#
# Everything of the cluster lives in $DRG_SLURM_DIR (default /tmp/drg-slurm): slurm.conf, the
# spool and state folders, logs and pid files; /etc/slurm is not touched. The clients find the
# configuration through SLURM_CONF (the `env` command prints the export line). Needs root: the
# daemons run as root (SlurmUser=root), without cgroups (proctrack/linuxproc, task/none), as
# seen to work with Debian 12's SLURM 22.05.8 on a 2-core machine without systemd.
set -euo pipefail

dir=${DRG_SLURM_DIR:-/tmp/drg-slurm}
conf=$dir/slurm.conf

die() {
  echo "error: slurm-local.sh: $*" >&2
  exit 1
}

need_root() {
  [ "$(id -u)" -eq 0 ] || die "$1 needs root (apt-get, munged and the SLURM daemons); run it with sudo"
}

alive() {
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

install_if_missing() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null && command -v munged >/dev/null; then
    return
  fi
  command -v apt-get >/dev/null || die "slurmctld/slurmd/munged are not installed and there is no apt-get to install them (install SLURM and munge by hand)"
  echo "installing slurm-wlm and munge (apt-get)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    return # a munged is already running (ours from an earlier start, or the system's)
  fi
  [ -f /etc/munge/munge.key ] || /usr/sbin/mungekey --create
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge
  # Without --force munged refuses to start because of the log folder's ownership.
  munged --force --pid-file="$dir/munged.pid"
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return
    sleep 0.1
  done
  die "munged did not start (munge -n | unmunge fails)"
}

write_conf() {
  local cpus mem
  cpus=$(nproc)
  # RealMemory in MB: all of the machine's memory but 1 GB for the system.
  mem=$(awk '/MemTotal/ { m = int($2 / 1024) - 1024; print (m > 500 ? m : 500) }' /proc/meminfo)
  mkdir -p "$dir/spool" "$dir/state" "$dir/log"
  cat >"$conf" <<EOF
# Written by scripts/slurm-local.sh: a one-node cluster on localhost.
ClusterName=drglocal
SlurmctldHost=localhost
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmUser=root
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SlurmdSpoolDir=$dir/spool
StateSaveLocation=$dir/state
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
# Keep finished jobs visible to squeue/scontrol for 10 minutes; look for startable jobs every 5 s
# (not every 60 s and 30 s): a requeued task starts soon after its begin time.
MinJobAge=600
SchedulerParameters=sched_interval=5,bf_interval=5
NodeName=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
  need_root start
  install_if_missing
  mkdir -p "$dir"
  start_munge
  if alive "$dir/slurmctld.pid" && alive "$dir/slurmd.pid"; then
    echo "already running ($conf)" >&2
  else
    write_conf
    alive "$dir/slurmctld.pid" || slurmctld -f "$conf"
    alive "$dir/slurmd.pid" || slurmd -f "$conf"
  fi
  export SLURM_CONF=$conf
  # sinfo first shows the node as `unk*`; wait until it takes jobs.
  for _ in $(seq 120); do
    state=$(sinfo -h -N -o '%t' 2>/dev/null | head -n1 || true)
    case "$state" in
      idle | mix | alloc) echo "SLURM is up: node localhost $state ($conf)" >&2; return ;;
    esac
    sleep 0.5
  done
  tail -n 5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
  die "the node did not come up within 60 s (state '${state:-none}'); logs in $dir/log"
}

stop() {
  local name
  for name in slurmd slurmctld munged; do
    if alive "$dir/$name.pid"; then
      kill "$(cat "$dir/$name.pid")"
      echo "stopped $name" >&2
    fi
  done
  for name in slurmd slurmctld munged; do
    for _ in $(seq 50); do
      alive "$dir/$name.pid" || break
      sleep 0.1
    done
    rm -f "$dir/$name.pid"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    export SLURM_CONF=$conf
    sinfo
    squeue
    ;;
  env) echo "export SLURM_CONF=$conf" ;;
  *)
    echo "usage: $0 start|stop|status|env   (cluster folder: \$DRG_SLURM_DIR, default /tmp/drg-slurm)" >&2
    exit 2
    ;;
esac
