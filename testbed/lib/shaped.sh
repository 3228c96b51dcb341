# shellcheck shell=bash
# The "shaped" PostgreSQL images of the test bed, sourced by testbed/bed.
#
# The upgrade cutover exists for is postgres:16-alpine -> pgvector/pgvector:pg16 on the same
# volume: musl -> glibc and uid 70 -> uid 999. postgres-before and postgres-after are the same
# Debian build, so none of that move's hazards would ever be exercised. These two images play
# the real pair, built with `docker build` in seconds on top of the existing ones:
#
#   postgres-alpine-shaped  postgres-before, with
#     - /usr/lib/locale/C.utf8 copied to en_US.utf8: musl's en_US.utf8 sorts by code point
#       (A B Eb Z _x a b c e Á é), exactly like glibc's C.utf8;
#     - the postgres user and group at uid/gid 70, as in the Alpine image;
#     - LANG=en_US.utf8, so a new cluster is initialised with that locale (lc_collate, lc_ctype
#       and the lc_* settings in postgresql.conf), as the Alpine image's users get.
#   postgres-debian-shaped  postgres-after (+ pgvector), with
#     - a real glibc en_US.UTF-8 (localedef; `en_US.utf8` resolves to it), which sorts
#       a A Á b B c e é Eb _x Z;
#     - the postgres user and group at uid/gid 999, as in the official Debian images;
#     - LANG=en_US.utf8, as the official image sets it.
#
# Both keep the test bed's entrypoint (testbed/images/postgres-entrypoint.sh), which, like the
# official one, chowns PGDATA to its own postgres user when started as root: on the other's
# volume each image takes the files over.
#
# Kept out of images.sh on purpose: that file's hash is part of every other image's tag.
# A shaped image's tag hashes this file and its parent image's id, so it is rebuilt exactly
# when its recipe or its parent changes.

# shaped_dockerfile NAME PARENT: the Dockerfile of one shaped image.
shaped_dockerfile() {
	local name=$1 parent=$2
	case "$name" in
	postgres-alpine-shaped)
		cat <<-EOF
			FROM $parent
			RUN set -e; \\
			    cp -a /usr/lib/locale/C.utf8 /usr/lib/locale/en_US.utf8; \\
			    $(shaped_move_user_sh 70)
			ENV LANG=en_US.utf8
			LABEL cutover.testbed.plays="postgres:16-alpine (musl en_US.utf8, uid 70)"
		EOF
		;;
	postgres-debian-shaped)
		cat <<-EOF
			FROM $parent
			RUN set -e; \\
			    localedef -i en_US -c -f UTF-8 en_US.UTF-8; \\
			    $(shaped_move_user_sh 999)
			ENV LANG=en_US.utf8
			LABEL cutover.testbed.plays="pgvector/pgvector:pg16 (glibc en_US.UTF-8, uid 999)"
		EOF
		;;
	*) die "no shaped image called $name" ;;
	esac
}

# Shell (one line, for a RUN) moving the postgres user and group to uid/gid $1, and every file
# the old ids owned with them.
shaped_move_user_sh() {
	local id=$1
	printf '%s' "ou=\$(id -u postgres); og=\$(id -g postgres); " \
		"groupmod -g $id postgres; usermod -u $id -g $id postgres; " \
		"find / -xdev -uid \$ou -exec chown -h $id {} +; " \
		"find / -xdev -gid \$og -exec chgrp -h $id {} +"
}

# build_shaped_image NAME PARENT_NAME
build_shaped_image() {
	local name=$1 parent="$REPO_PREFIX/$2:latest"
	image_exists "$parent" || die "$parent is missing: it is built before $name"
	local parent_id tag
	parent_id=$(docker image inspect -f '{{.Id}}' "$parent")
	tag="$REPO_PREFIX/$name:$(recipe_hash "$HERE/lib/shaped.sh" -- "$name" "$parent_id")"
	if image_exists "$tag"; then
		step "$name: cached ($tag)"
	else
		step "$name: docker build on $2"
		local ctx="$CACHE/$name-context"
		rm -rf "$ctx"
		mkdir -p "$ctx"
		shaped_dockerfile "$name" "$parent_id" >"$ctx/Dockerfile"
		docker_build -t "$tag" "$ctx"
		rm -rf "$ctx"
	fi
	tag_latest "$tag"
}

# Both shaped images, under the same lock as build_all_images (run after it).
build_shaped_images() {
	mkdir -p "$CACHE"
	exec 9>"$CACHE/images.lock"
	flock 9
	build_shaped_image postgres-alpine-shaped postgres-before
	build_shaped_image postgres-debian-shaped postgres-after
	docker image ls --format '    {{.Repository}}:{{.Tag}}  {{.Size}}' "$REPO_PREFIX/*-shaped:latest" >&2
	exec 9>&-
}
