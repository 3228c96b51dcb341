# shellcheck shell=bash
# Image recipes of the test bed, sourced by testbed/bed.
#
# Every image is built offline from Debian packages: one debootstrap'ed trixie (minbase) root
# filesystem is cached under $CACHE/rootfs/base and reused by every image. Each image's tag is a
# hash of its recipe (this file, the recipe files it reads and, for the stand-ins, their source),
# so an image is rebuilt exactly when its recipe changes; `:latest` aliases point at the current
# build so other code can name the images without knowing the hash.

REPO_PREFIX=cutover-testbed
# Bump when build_base_rootfs changes how the base is made (base.recipe covers what goes in).
BASE_BUILD_REV=1

# Short content hash of the given files (and of the strings given after `--`).
recipe_hash() {
	{
		local f
		for f in "$@"; do
			if [ "$f" = -- ]; then continue; fi
			if [ -f "$f" ]; then cat "$f"; else printf '%s\n' "$f"; fi
		done
	} | sha256sum | cut -c1-16
}

# The Debian mirror the machine's apt already uses (deb.debian.org here); override with
# CUTOVER_DEBIAN_MIRROR. Security and third-party sources are skipped.
debian_mirror() {
	if [ -n "${CUTOVER_DEBIAN_MIRROR:-}" ]; then
		echo "$CUTOVER_DEBIAN_MIRROR"
		return
	fi
	local m
	m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -v '^\s*#' | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -n1 | tr -d ' ')
	echo "${m:-http://deb.debian.org/debian}"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Points REPO:latest at REPO:HASH and removes the repo's older hash tags, so rebuilt recipes
# do not pile up in the engine (an old image still used by a container is left alone).
tag_latest() {
	local repo=${1%:*} tag=${1##*:} old
	docker tag "$1" "$repo:latest"
	for old in $(docker image ls --format '{{.Tag}}' "$repo"); do
		case "$old" in latest | "$tag" | '<none>') ;; *) docker rmi "$repo:$old" >/dev/null 2>&1 || true ;; esac
	done
}

base_hash() { recipe_hash "$HERE/images/base.recipe" -- "$BASE_BUILD_REV" "$(debian_mirror)"; }

# debootstrap checks the Release signature with the host's archive keyring. Bookworm's
# debian-archive-keyring (2023.3+deb12u1 and later) already carries the trixie keys, so we pass
# it explicitly and stop with a clear message when it is too old, never skipping verification.
check_build_tools() {
	local missing=()
	command -v debootstrap >/dev/null || missing+=(debootstrap)
	command -v chroot >/dev/null || missing+=(coreutils)
	command -v flock >/dev/null || missing+=(util-linux)
	if [ ${#missing[@]} -gt 0 ]; then
		die "missing ${missing[*]}: install with: apt-get install -y debootstrap debian-archive-keyring"
	fi
	[ -f /usr/share/keyrings/debian-archive-trixie-stable.gpg ] ||
		die "the host keyring has no Debian 13 (trixie) key: apt-get install -y 'debian-archive-keyring>=2023.3+deb12u1'"
	[ "$(id -u)" = 0 ] || die "building images needs root (debootstrap, chroot)"
}

build_base_rootfs() {
	local want have dir="$CACHE/rootfs/base"
	want=$(base_hash)
	have=$(cat "$dir/.cutover-recipe" 2>/dev/null || true)
	if [ "$want" = "$have" ]; then
		step "base rootfs: cached ($dir)"
		return
	fi
	check_build_tools
	local mirror
	mirror=$(debian_mirror)
	# shellcheck source=/dev/null
	local suite variant include
	suite=$(sed -n 's/^suite=//p' "$HERE/images/base.recipe")
	variant=$(sed -n 's/^variant=//p' "$HERE/images/base.recipe")
	include=$(sed -n 's/^include=//p' "$HERE/images/base.recipe")
	step "base rootfs: debootstrap --variant=$variant $suite from $mirror (a few minutes)"
	rm -rf "$dir.tmp" "$dir"
	mkdir -p "$CACHE/rootfs"
	debootstrap --variant="$variant" ${include:+--include="$include"} \
		--keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
		"$suite" "$dir.tmp" "$mirror"
	# Keep services from starting inside the chroot while packages install.
	printf '#!/bin/sh\nexit 101\n' >"$dir.tmp/usr/sbin/policy-rc.d"
	chmod 0755 "$dir.tmp/usr/sbin/policy-rc.d"
	# Keep images small: no docs, man pages or translations from later installs either.
	cat >"$dir.tmp/etc/dpkg/dpkg.cfg.d/01-cutover-slim" <<-'EOF'
		path-exclude=/usr/share/doc/*
		path-exclude=/usr/share/man/*
		path-exclude=/usr/share/info/*
		path-exclude=/usr/share/locale/*
	EOF
	slim_rootfs "$dir.tmp"
	echo "$want" >"$dir.tmp/.cutover-recipe"
	mv "$dir.tmp" "$dir"
}

slim_rootfs() {
	local r=$1
	rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb \
		"$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/locale/* \
		"$r"/var/log/*.log "$r"/var/log/apt/* "$r"/tmp/* "$r"/var/cache/debconf/*-old
}

# Streams a root filesystem into the engine as a one-layer image; $2.. are --change lines.
import_rootfs() {
	local dir=$1 tag=$2
	shift 2
	local changes=()
	local c
	for c in "$@"; do changes+=(--change "$c"); done
	tar --numeric-owner --exclude=./.cutover-recipe -C "$dir" -c . |
		docker import "${changes[@]}" - "$tag" >/dev/null
}

# The base as an image too, so the stand-in images share its layer (FROM base + COPY).
build_base_image() {
	local tag="$REPO_PREFIX/base:$(base_hash)"
	if image_exists "$tag"; then
		step "base image: cached ($tag)"
	else
		build_base_rootfs
		step "base image: importing $tag"
		import_rootfs "$CACHE/rootfs/base" "$tag" 'CMD ["/bin/bash"]'
	fi
	tag_latest "$tag"
}

# postgres-before / postgres-after: base + packages installed in a chroot, then imported.
build_postgres_image() {
	local name=$1 pkgs="$HERE/images/$1.packages"
	local tag
	tag="$REPO_PREFIX/$name:$(recipe_hash "$pkgs" "$HERE/images/postgres-entrypoint.sh" -- "$(base_hash)" "$(recipe_hash "$HERE/lib/images.sh")")"
	if image_exists "$tag"; then
		step "$name: cached ($tag)"
		tag_latest "$tag"
		return
	fi
	step "$name: installing $(grep -v '^#' "$pkgs" | xargs) into a copy of the base rootfs"
	build_base_rootfs
	local r="$CACHE/rootfs/$name.tmp"
	umount "$r/proc" 2>/dev/null || true # left mounted by a killed earlier build
	rm -rf "$r"
	cp -a "$CACHE/rootfs/base" "$r"
	# postgresql-common would create and start a "main" cluster; the entrypoint owns PGDATA.
	mkdir -p "$r/etc/postgresql-common/createcluster.d"
	echo "create_main_cluster = false" >"$r/etc/postgresql-common/createcluster.d/cutover.conf"
	mount -t proc proc "$r/proc"
	# shellcheck disable=SC2064 # expand $r now: the trap outlives this function's locals.
	trap "umount '$r/proc' 2>/dev/null || true" EXIT
	local pkglist
	pkglist=$(grep -v '^#' "$pkgs" | xargs)
	chroot "$r" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 \
		bash -c "apt-get -q update && apt-get -q install -y --no-install-recommends $pkglist && apt-get clean"
	umount "$r/proc"
	trap - EXIT
	install -m 0755 "$HERE/images/postgres-entrypoint.sh" "$r/usr/local/bin/docker-entrypoint.sh"
	mkdir -p "$r/docker-entrypoint-initdb.d"
	slim_rootfs "$r"
	local bin
	bin=$(ls -d "$r"/usr/lib/postgresql/*/bin | head -n1)
	bin=${bin#"$r"}
	step "$name: importing $tag"
	# `docker import --change` has no STOPSIGNAL on this engine, so the metadata goes on in a
	# Dockerfile over the imported root filesystem (metadata only: no extra layer).
	import_rootfs "$r" "$tag-rootfs"
	local ctx="$CACHE/$name-context"
	rm -rf "$ctx"
	mkdir -p "$ctx"
	cat >"$ctx/Dockerfile" <<-EOF
		FROM $tag-rootfs
		ENV PATH=$bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
		ENV PGDATA=/var/lib/postgresql/data LANG=C.UTF-8
		VOLUME /var/lib/postgresql/data
		ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
		CMD ["postgres"]
		STOPSIGNAL SIGINT
		EXPOSE 5432
	EOF
	docker_build -t "$tag" "$ctx"
	docker rmi "$tag-rootfs" >/dev/null
	rm -rf "$ctx"
	rm -rf "$r"
	tag_latest "$tag"
}

standin_hash() {
	local s="$REPO/testbed/standins"
	recipe_hash "$s/Cargo.toml" "$REPO/Cargo.lock" "$HERE/lib/images.sh" \
		$(find "$s/src" -type f | sort) -- "$(base_hash)"
}

# app (backend + worker stand-ins) and qdrant-standin: one Rust binary, two images.
build_standin_images() {
	local h app qd
	h=$(standin_hash)
	app="$REPO_PREFIX/app:$h"
	qd="$REPO_PREFIX/qdrant-standin:$h"
	if image_exists "$app" && image_exists "$qd"; then
		step "stand-ins: cached ($app, $qd)"
	else
		step "stand-ins: cargo build --release -p standins"
		(cd "$REPO" && cargo build --release -p standins)
		local ctx="$CACHE/standin-context"
		rm -rf "$ctx"
		mkdir -p "$ctx"
		cp "${CARGO_TARGET_DIR:-$REPO/target}/release/standin" "$ctx/standin"
		strip "$ctx/standin" 2>/dev/null || true
		cat >"$ctx/Dockerfile.app" <<-EOF
			FROM $REPO_PREFIX/base:$(base_hash)
			COPY standin /usr/local/bin/standin
			ENTRYPOINT ["/usr/local/bin/standin"]
			CMD ["backend"]
			EXPOSE 8000
		EOF
		cat >"$ctx/Dockerfile.qdrant" <<-EOF
			FROM $REPO_PREFIX/base:$(base_hash)
			COPY standin /usr/local/bin/standin
			RUN mkdir -p /qdrant/storage
			WORKDIR /qdrant
			VOLUME /qdrant/storage
			ENTRYPOINT ["/usr/local/bin/standin", "qdrant"]
			EXPOSE 6333
		EOF
		step "stand-ins: docker build $app"
		docker_build -f "$ctx/Dockerfile.app" -t "$app" "$ctx"
		step "stand-ins: docker build $qd"
		docker_build -f "$ctx/Dockerfile.qdrant" -t "$qd" "$ctx"
		rm -rf "$ctx"
	fi
	tag_latest "$app"
	tag_latest "$qd"
}

# The legacy builder (this engine has no buildx); its deprecation notice is noise, so output
# is shown only when the build fails.
docker_build() {
	local out
	if ! out=$(DOCKER_BUILDKIT=0 docker build -q "$@" 2>&1); then
		printf '%s\n' "$out" >&2
		return 1
	fi
}

# All images, serialised: parallel test processes call this and must not build twice.
build_all_images() {
	mkdir -p "$CACHE"
	exec 9>"$CACHE/images.lock"
	if ! flock -n 9; then
		step "another image build is running; waiting for it ($CACHE/images.lock)"
		flock 9
	fi
	local t0=$SECONDS
	# The base root filesystem is made (debootstrap, about a minute) only when an image that
	# needs it is missing: images already in the engine are enough, whatever the cache holds.
	build_base_image
	build_postgres_image postgres-before
	build_postgres_image postgres-after
	build_standin_images
	step "images ready in $((SECONDS - t0)) s:"
	docker image ls --format '    {{.Repository}}:{{.Tag}}  {{.Size}}' "$REPO_PREFIX/*:latest" >&2
	exec 9>&-
}
