#!/usr/bin/env bash
# Restores a base backup taken by deploy/backup/backup.sh into a fresh data directory,
# replays the archived WAL after it (to the end of the archive, or up to --target-time for a
# point-in-time restore), and starts the restored cluster on the given port, promoted and
# accepting writes. The original cluster and the archive are left untouched: the restored
# one archives nothing (turn archive_mode back on, with a new MR_BACKUP_DIR, only once it is
# chosen as the new primary).
#
# Usage:
#   restore.sh --data DIR --port PORT [--target-time TIME] [--backup DIR] [--wal DIR]
#
#   --data DIR          the new data directory (must not exist, or be empty)
#   --port PORT         where the restored cluster listens (127.0.0.1 unless MR_RESTORE_LISTEN)
#   --target-time TIME  stop replaying at this moment, e.g. '2026-12-06 09:50:01.5+00'
#                       (PostgreSQL's recovery_target_time: commits up to and including TIME are
#                       kept, later ones dropped); without it, everything archived is replayed
#   --backup DIR        the base backup (default: the newest under $MR_BACKUP_DIR/base); it
#                       must have finished before TIME
#   --wal DIR           the WAL archive (default: $MR_BACKUP_DIR/wal)
#
# Environment: MR_BACKUP_DIR (for the defaults above), PG_BINDIR (PostgreSQL's binaries),
# MR_RESTORE_LISTEN (listen_addresses, default 127.0.0.1), MR_RESTORE_TIMEOUT (seconds to wait
# for recovery to finish, default 600). Run it as the `postgres` user, or as root (the files
# are then given to `postgres` and the server runs as that user).
set -euo pipefail

die() { echo "restore.sh: $*" >&2; exit 1; }

data="" port="" target="" backup="" wal=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data) data="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --target-time) target="$2"; shift 2 ;;
    --backup) backup="$2"; shift 2 ;;
    --wal) wal="$2"; shift 2 ;;
    *) die "unknown argument $1 (see the header of this script)" ;;
  esac
done
[[ -n "$data" ]] || die "--data is required"
[[ "$port" =~ ^[0-9]+$ ]] || die "--port is required (a number)"
if [[ -z "$backup" ]]; then
  [[ -n "${MR_BACKUP_DIR:-}" ]] || die "--backup or MR_BACKUP_DIR is required"
  backup=$(ls -1d "$MR_BACKUP_DIR"/base/*/ 2>/dev/null | grep -v '\.partial/$' | sort | tail -n 1)
  [[ -n "$backup" ]] || die "no base backup under $MR_BACKUP_DIR/base"
fi
if [[ -z "$wal" ]]; then
  [[ -n "${MR_BACKUP_DIR:-}" ]] || die "--wal or MR_BACKUP_DIR is required"
  wal="$MR_BACKUP_DIR/wal"
fi
backup=${backup%/}
[[ -f "$backup/base.tar.gz" ]] || die "$backup/base.tar.gz not found (not a base backup of backup.sh)"
[[ -d "$wal" ]] || die "WAL archive $wal not found"
wal=$(cd "$wal" && pwd)
if [[ -e "$data" ]] && [[ -n "$(ls -A "$data")" ]]; then
  die "$data is not empty: restore into a fresh directory"
fi

bindir() {
  if [[ -n "${PG_BINDIR:-}" ]]; then echo "$PG_BINDIR"; return; fi
  if command -v pg_config >/dev/null 2>&1 && [[ -x "$(pg_config --bindir)/pg_ctl" ]]; then
    pg_config --bindir; return
  fi
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$newest" ]] || die "PostgreSQL binaries not found (set PG_BINDIR)"
  echo "$newest"
}
as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

started=$(date +%s.%N)
mkdir -p "$data"
chmod 700 "$data"
data=$(cd "$data" && pwd)
tar -xzf "$backup/base.tar.gz" -C "$data"
if [[ -f "$backup/pg_wal.tar.gz" ]]; then
  mkdir -p "$data/pg_wal"
  tar -xzf "$backup/pg_wal.tar.gz" -C "$data/pg_wal"
fi
# A copy of a standby or of a running primary: neither its role nor its lock file applies.
rm -f "$data/standby.signal" "$data/postmaster.pid"
touch "$data/recovery.signal"
{
  echo "# restore.sh $(date -u +%Y-%m-%dT%H:%M:%SZ): from $backup"
  echo "restore_command = 'cp \"$wal/%f\" \"%p\"'"
  if [[ -n "$target" ]]; then
    echo "recovery_target_time = '$target'"
  fi
  echo "recovery_target_action = 'promote'"
  echo "primary_conninfo = ''"
  echo "port = $port"
  echo "listen_addresses = '${MR_RESTORE_LISTEN:-127.0.0.1}'"
  echo "unix_socket_directories = '$data'"
  # A restored copy must never write into the archive of the cluster it came from.
  echo "archive_mode = off"
  # No connections until recovery has ended: accepting them means promoted.
  echo "hot_standby = off"
} >> "$data/postgresql.auto.conf"
if [[ $(id -u) -eq 0 ]]; then
  chown -R postgres:postgres "$data"
fi

log="$data/restore.log"
as_postgres "$(bindir)/pg_ctl" start -D "$data" -l "$log" -w -t "${MR_RESTORE_TIMEOUT:-600}" >/dev/null \
  || { tail -n 30 "$log" >&2 || true; die "the restored cluster did not start (log: $log)"; }
# pg_ctl returns once the server is up; with hot_standby off it refuses connections until
# recovery has ended and it was promoted.
deadline=$(( $(date +%s) + ${MR_RESTORE_TIMEOUT:-600} ))
until as_postgres "$(bindir)/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres; do
  if [[ $(date +%s) -ge $deadline ]] || ! as_postgres "$(bindir)/pg_ctl" status -D "$data" >/dev/null; then
    tail -n 30 "$log" >&2 || true
    die "recovery did not finish (log: $log)"
  fi
  sleep 0.1
done
in_recovery=$(as_postgres "$(bindir)/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atc \
  "SELECT pg_is_in_recovery()")
[[ "$in_recovery" == "f" ]] || die "the restored cluster is still in recovery (log: $log)"
finished=$(date +%s.%N)
echo "restored $backup${target:+ to $target} into $data, listening on port $port"
awk -v a="$started" -v b="$finished" 'BEGIN { printf "restore took %.1f s\n", b - a }'
