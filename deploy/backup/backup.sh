#!/usr/bin/env bash
# MR Ledger backups of PostgreSQL: base backups taken with pg_basebackup, and the WAL between
# them archived by PostgreSQL itself (archive_command), so deploy/backup/restore.sh can bring
# a fresh cluster to the end of the archive or to any moment after a base backup.
#
# Usage:
#   backup.sh base                    a base backup into $MR_BACKUP_DIR/base/<UTC time>/
#                                     (base.tar.gz, pg_wal.tar.gz, backup_manifest)
#   backup.sh archive-wal PATH NAME   archive one WAL segment: PostgreSQL's archive_command
#   backup.sh list                    the base backups and the archived WAL
#
# The primary's postgresql.conf (archive_mode needs a restart, the rest a reload):
#   archive_mode = on
#   archive_command = 'MR_BACKUP_DIR=/var/backups/mrledger /opt/mrledger/deploy/backup/backup.sh archive-wal %p %f'
#   archive_timeout = 60        # a quiet primary still archives at least once a minute (the RPO)
#
# Environment:
#   MR_BACKUP_DIR   where backups live (required): base/ and wal/ beneath it
#   PGHOST, PGPORT, PGUSER, PGPASSWORD   the primary, for `base` (libpq's variables; default
#                   127.0.0.1, 5432, postgres); the user needs the REPLICATION attribute
#   PG_BINDIR       PostgreSQL's binaries (default: pg_config --bindir, else the newest
#                   /usr/lib/postgresql/*/bin)
set -euo pipefail

die() { echo "backup.sh: $*" >&2; exit 1; }

[[ -n "${MR_BACKUP_DIR:-}" ]] || die "MR_BACKUP_DIR is not set"

bindir() {
  if [[ -n "${PG_BINDIR:-}" ]]; then echo "$PG_BINDIR"; return; fi
  if command -v pg_config >/dev/null 2>&1 && [[ -x "$(pg_config --bindir)/pg_basebackup" ]]; then
    pg_config --bindir; return
  fi
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$newest" ]] || die "PostgreSQL binaries not found (set PG_BINDIR)"
  echo "$newest"
}

base_backup() {
  local stamp dir partial
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  dir="$MR_BACKUP_DIR/base/$stamp"
  partial="$dir.partial"
  [[ ! -e "$dir" ]] || die "$dir exists"
  mkdir -p "$MR_BACKUP_DIR/base"
  rm -rf "$partial"
  # Tar format, compressed; the WAL the backup needs is streamed into pg_wal.tar.gz, so a
  # base backup restores on its own even before the archive has caught up. A fast
  # checkpoint starts it at once rather than at the next scheduled checkpoint.
  "$(bindir)/pg_basebackup" \
    --host="${PGHOST:-127.0.0.1}" --port="${PGPORT:-5432}" --username="${PGUSER:-postgres}" \
    --pgdata="$partial" --format=tar --gzip --wal-method=stream --checkpoint=fast \
    --label="mrledger $stamp" --no-password
  # Only a finished backup gets its final name: restore.sh never picks a partial one.
  mv "$partial" "$dir"
  echo "$dir"
}

archive_wal() {
  local path="$1" name="$2" wal="$MR_BACKUP_DIR/wal" dest tmp
  dest="$wal/$name"
  mkdir -p "$wal"
  if [[ -e "$dest" ]]; then
    # Archived before (a retry after a crash): fine if identical, an error otherwise.
    cmp -s "$path" "$dest" && exit 0
    die "$dest exists with different contents"
  fi
  tmp="$wal/.$name.$$"
  cp "$path" "$tmp"
  # On disk before PostgreSQL is told it may recycle the segment.
  sync "$tmp"
  mv "$tmp" "$dest"
  sync "$wal"
}

list() {
  echo "base backups in $MR_BACKUP_DIR/base:"
  ls -1 "$MR_BACKUP_DIR/base" 2>/dev/null | grep -v '\.partial$' || true
  local count
  count=$(ls -1 "$MR_BACKUP_DIR/wal" 2>/dev/null | wc -l)
  echo "archived WAL files in $MR_BACKUP_DIR/wal: $count"
  ls -1 "$MR_BACKUP_DIR/wal" 2>/dev/null | tail -n 1
}

case "${1:-}" in
  base) base_backup ;;
  archive-wal)
    [[ $# -eq 3 ]] || die "usage: backup.sh archive-wal PATH NAME (archive_command: ... archive-wal %p %f)"
    archive_wal "$2" "$3"
    ;;
  list) list ;;
  *) die "usage: backup.sh base | archive-wal PATH NAME | list" ;;
esac
