# shellcheck shell=bash
# Stacks of the test bed, sourced by testbed/bed.
#
# A stack is a directory holding a copy of testbed/stack/compose.yaml and an .env with its
# project name and a random password, run as one Compose project. Invariants:
#   - everything a stack creates carries com.docker.compose.project=PROJECT (Compose sets it;
#     tests put it, or cutover.testbed=PROJECT, on containers they start themselves), so
#     `down` can remove it all by label even when the directory is gone or a test panicked;
#   - the password lives only in the stack's .env (mode 0600) and is never printed.

LABEL_PROJECT=com.docker.compose.project
# The postgres image a new stack starts on: the Alpine-shaped one (testbed/lib/shaped.sh) by
# default, as in production; CUTOVER_TESTBED_BEFORE picks another (the glibc -> glibc case
# runs on postgres-before).
TEMPLATE_BEFORE=cutover-testbed/postgres-alpine-shaped:latest
before_image() { echo "${CUTOVER_TESTBED_BEFORE:-$TEMPLATE_BEFORE}"; }
LABEL_TESTBED=cutover.testbed

# The Compose command, chosen as cutover's `compose_command` chooses: COMPOSE=v1 (docker-compose),
# v2 (docker compose), the command words, or auto (default): v2 if the docker CLI has it, else
# docker-compose. The tests set COMPOSE to run the stacks and cutover under one version.
compose_cmd() {
	case "${COMPOSE:-auto}" in
	v1) echo docker-compose ;;
	v2) echo "docker compose" ;;
	auto)
		if docker compose version >/dev/null 2>&1; then
			echo "docker compose"
		elif command -v docker-compose >/dev/null; then
			echo docker-compose
		else
			die "no Compose tool: apt-get install -y docker-compose (v1), or testbed/bed compose-v2"
		fi
		;;
	*) echo "$COMPOSE" ;;
	esac
}

# compose_in DIR PROJECT ARGS...: the Compose tool on one stack, run from its directory with no
# -f, so both Compose v1 and v2 read its .env and pick its files as a user's `up` would:
# compose.yaml plus a compose.override.yaml, or the COMPOSE_FILE list of its .env.
compose_in() {
	local dir=$1 project=$2
	shift 2
	# shellcheck disable=SC2046 # "docker compose" is two words on purpose.
	(cd "$dir" && $(compose_cmd) -p "$project" "$@")
}

check_project_name() {
	[[ $1 =~ ^[a-z0-9][a-z0-9_-]*$ ]] || die "project name '$1' must match [a-z0-9][a-z0-9_-]*"
}

# The stack's directory: compose.yaml from the template (kept if present, since cutover may
# have edited it) and an .env naming the project, with a fresh password on first use.
stack_prepare() {
	local dir=$1 project=$2
	mkdir -p "$dir"
	if [ ! -f "$dir/compose.yaml" ]; then
		sed "s#image: $TEMPLATE_BEFORE#image: $(before_image)#" "$HERE/stack/compose.yaml" >"$dir/compose.yaml"
	fi
	if [ ! -f "$dir/.env" ]; then
		local password
		password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=' | cut -c1-24)
		(umask 077 && sed -e "s/@PROJECT@/$project/" -e "s/@PASSWORD@/$password/" \
			"$HERE/stack/env.template" >"$dir/.env")
	else
		sed -i "s/^COMPOSE_PROJECT_NAME=.*/COMPOSE_PROJECT_NAME=$project/" "$dir/.env"
	fi
}

project_containers() {
	docker ps -aq --filter "label=$LABEL_PROJECT=$1"
}

# Waits until every container of the project runs and, where it has a healthcheck, is healthy.
stack_wait_healthy() {
	local project=$1 deadline=$((SECONDS + ${2:-120}))
	local ids id state pending
	while :; do
		ids=$(project_containers "$project")
		[ -n "$ids" ] || die "project $project has no containers"
		pending=()
		for id in $ids; do
			state=$(docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")
			case "$state" in
			*" running healthy" | *" running none") ;;
			*" exited "* | *" dead "*)
				docker logs --tail 30 "$id" >&2 || true
				die "container ${state%% *} stopped while waiting: $state"
				;;
			*) pending+=("$state") ;;
			esac
		done
		[ ${#pending[@]} -eq 0 ] && return 0
		if [ $SECONDS -ge $deadline ]; then
			die "project $project not healthy in time: ${pending[*]}"
		fi
		sleep 1
	done
}

stack_up() {
	[ $# -ge 2 ] || die "usage: bed up DIR PROJECT [SCALE]"
	local dir=$1 project=$2 scale=${3:-0}
	check_project_name "$project"
	local img
	for img in "$(before_image)" "$REPO_PREFIX/app:latest"; do
		image_exists "$img" || die "image $img is missing: run testbed/bed images"
	done
	stack_prepare "$dir" "$project"
	step "up: project $project in $dir"
	compose_in "$dir" "$project" up -d
	stack_wait_healthy "$project"
	step "up: $project is healthy"
	if [ "$scale" != 0 ]; then
		stack_seed "$project" "$scale"
	fi
}

service_container() {
	docker ps -q --filter "label=$LABEL_PROJECT=$1" --filter "label=com.docker.compose.service=$2" | head -n1
}

# Loads testbed/seed.sql through psql inside the postgres container (local socket, no
# password needed there). Seeding an already seeded database changes nothing.
stack_seed() {
	[ $# -eq 2 ] || die "usage: bed seed PROJECT SCALE"
	local project=$1 scale=$2
	[[ $scale =~ ^[0-9]+$ ]] || die "scale must be a number of users, got '$scale'"
	local c
	c=$(service_container "$project" postgres)
	[ -n "$c" ] || die "project $project has no running postgres container"
	step "seed: $scale users into $project"
	local t0=$SECONDS
	docker exec -i "$c" psql -X -q -v ON_ERROR_STOP=1 -v scale="$scale" \
		-U privexbot -d privexbot -f - <"$HERE/seed.sql"
	step "seed: done in $((SECONDS - t0)) s"
}

# Removes the project's containers, networks and volumes. Compose first (when the directory is
# known) so it can stop things in order; then by label, which also catches what a test
# started by hand and what a half-failed `up` left behind. Safe to call twice.
stack_down() {
	[ $# -ge 1 ] || die "usage: bed down PROJECT [DIR]"
	local project=$1 dir=${2:-}
	check_project_name "$project"
	if [ -n "$dir" ] && [ -f "$dir/compose.yaml" ]; then
		compose_in "$dir" "$project" down -v --remove-orphans --timeout 5 >&2 || true
	fi
	local label ids
	for label in "$LABEL_PROJECT=$project" "$LABEL_TESTBED=$project"; do
		ids=$(docker ps -aq --filter "label=$label")
		[ -z "$ids" ] || docker rm -f -v $ids >/dev/null
		ids=$(docker network ls -q --filter "label=$label")
		[ -z "$ids" ] || docker network rm $ids >/dev/null
		ids=$(docker volume ls -q --filter "label=$label")
		[ -z "$ids" ] || docker volume rm -f $ids >/dev/null
	done
	# cutover's parked old postgres (no Compose label, on purpose) and its keep tag.
	ids=$(docker ps -aq --filter "label=io.cutover.project=$project")
	[ -z "$ids" ] || docker rm -f -v $ids >/dev/null
	ids=$(docker images --filter "reference=cutover-keep/$project:*" --format '{{.Repository}}:{{.Tag}}')
	[ -z "$ids" ] || docker rmi --no-prune $ids >/dev/null 2>&1 || true
	step "down: $project removed"
}

DEMO_PROJECT=cutover-demo

demo_up() {
	local scale=${1:-2000} dir="$CACHE/demo"
	build_all_images
	build_shaped_images
	stack_up "$dir" "$DEMO_PROJECT" "$scale"
	cat >&2 <<-EOF

		Demo stack "$DEMO_PROJECT" is up (pre-upgrade: $(before_image), backend, celery-worker),
		seeded with $scale users.
		  compose file: $dir/compose.yaml   (password in $dir/.env)
		  status:       testbed/bed compose $DEMO_PROJECT $dir ps
		  tear down:    testbed/bed demo-down
	EOF
}

# demo [ARGS]: the demo stack, then cutover from its directory (where compose.yaml is), moving
# to the test bed's own images with no registry, as `cargo run` with no stack does.
demo_run() {
	demo_up
	step "starting cutover in $CACHE/demo"
	cd "$CACHE/demo" && exec cargo run --quiet --release --manifest-path "$REPO/Cargo.toml" --bin cutover -- \
		--target-image "${CUTOVER_TESTBED_AFTER:-cutover-testbed/postgres-debian-shaped:latest}" \
		--qdrant-image cutover-testbed/qdrant-standin:latest --pull never "$@"
}

demo_down() {
	stack_down "$DEMO_PROJECT" "$CACHE/demo"
	rm -rf "$CACHE/demo"
}
