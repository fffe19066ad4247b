#!/usr/bin/env bash
# sqlite3 gives the same query results with hakmem preloaded: 50k rows inserted in one
# transaction, indexes, aggregates, joins, window functions, an integrity check.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/common.sh" "$1"
need sqlite3
assert_preloaded

run_sql() {  # a fresh database file each time
  local db="$WORK/db.$RANDOM.$$"
  sqlite3 -batch "$db" <"$HERE/sqlite_workload.sql"
  rm -f "$db"
}
export -f run_sql
export HERE WORK
same_output sqlite bash -c run_sql
PRELOAD_ENV="HAKMEM_GUARD=1" same_output sqlite-guard bash -c run_sql
# An in-memory database with a big page cache: sqlite's own large allocations.
same_output sqlite-memory bash -c 'sqlite3 -batch -cmd "PRAGMA cache_size=-65536;" :memory: <"$HERE/sqlite_workload.sql"'
