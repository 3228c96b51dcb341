#!/bin/bash
# One disaster-rollback round on a stack you brought up yourself, for sizes the bench's own
# rounds make too long (BENCHMARKS.md, "Issue 14, third part", the 10 GB rows):
#   testbed/bed up /tmp/d10/stack d10 6200000        # about 7 min; 10 GB
#   cargo build --release
#   STACK=/tmp/d10/stack PROJECT=d10 benches/disaster_once.sh
#   RUN_ENV="CUTOVER_BACKUP_KIND=logical" STACK=/tmp/d10/stack PROJECT=d10 benches/disaster_once.sh
#   testbed/bed down d10 /tmp/d10/stack
# It runs the upgrade, then `cutover rollback --disaster --yes` on the dump path (timed, spawn
# to exit), then the baseline on the same server with the same file: a bare
# `pg_restore --jobs 4` of that dump, copied into the container first (not timed). Then it
# drops what the disaster path keeps (the database set aside, the backup volume, the dump), so
# the next round starts from the same stack. Needs about 5× the database's size free.
set -e
S=${STACK:-/tmp/d10/stack}; P=${PROJECT:-d10}
B=$(cd "$(dirname "$0")/.." && pwd)/target/release/cutover
cd "$S"
A="--target-image cutover-testbed/postgres-debian-shaped:latest --qdrant-image cutover-testbed/qdrant-standin:latest --pull never"
export CUTOVER_QDRANT_PORTS=none
u0=$(date +%s.%N)
env $RUN_ENV $B run --yes --sign-off staging-tested=Bench --sign-off team-informed=Bench --sign-off window-agreed=Bench $A > $S/../run.out 2>&1 || { tail -20 $S/../run.out; exit 1; }
u1=$(date +%s.%N)
echo "upgrade wall: $(echo "$u1 - $u0" | bc)"
t0=$(date +%s.%N)
CUTOVER_DISASTER_RESTORE=dump $B rollback --disaster --yes $A > $S/../rb.out 2>&1 || true
t1=$(date +%s.%N)
echo "rollback --disaster (dump) wall: $(echo "$t1 - $t0" | bc)"
grep -c "rolled back" $S/../rb.out
DUMP=$(ls -t $S/.cutover/runs/*/*.dump | head -1)
ls -la $DUMP
docker cp $DUMP $P-postgres:/tmp/bare.dump
docker exec $P-postgres psql -U privexbot -d postgres -qc "DROP DATABASE IF EXISTS bare" -c "CREATE DATABASE bare" 2>/dev/null
b0=$(date +%s.%N)
docker exec $P-postgres pg_restore --exit-on-error --no-owner --jobs 4 -U privexbot -d bare /tmp/bare.dump
b1=$(date +%s.%N)
echo "bare pg_restore --jobs 4: $(echo "$b1 - $b0" | bc)"
docker exec $P-postgres psql -U privexbot -d postgres -qc "DROP DATABASE bare"
docker exec $P-postgres rm -f /tmp/bare.dump
for d in $(docker exec $P-postgres psql -U privexbot -d postgres -Atc "select datname from pg_database where datname like '%aside%'"); do docker exec $P-postgres psql -U privexbot -d postgres -qc "DROP DATABASE \"$d\""; done
for v in $(docker volume ls -q | grep ${P}_cutover-backup); do docker volume rm $v > /dev/null; done
rm -f $S/.cutover/runs/*/*.dump
