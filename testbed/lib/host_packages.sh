# shellcheck shell=bash
# The Debian packages this machine needs for the test bed, installed by the bed itself so that
# the README's two commands work on a fresh machine with nothing installed by hand.
#
# Kept out of images.sh on purpose: image tags hash images.sh, and how the host gets its tools
# has nothing to do with what goes into an image.

# Which packages are missing: debootstrap + a keyring that knows trixie (the images are built
# from a debootstrapped Debian 13), a Compose tool (the stacks are brought up the way a user's
# are), busybox-static (the tiny image of the Docker-adapter tests), curl + gpgv + xz-utils
# (`bed compose-v2`).
missing_host_packages() {
	local need=()
	command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
	[ -f /usr/share/keyrings/debian-archive-trixie-stable.gpg ] || need+=(debian-archive-keyring)
	command -v flock >/dev/null 2>&1 || need+=(util-linux)
	command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || need+=(docker-compose)
	[ -x /bin/busybox ] || need+=(busybox-static)
	# `bed compose-v2` fetches Debian 13's Compose v2 and checks its signature.
	command -v curl >/dev/null 2>&1 || command -v wget >/dev/null 2>&1 || need+=(curl)
	command -v gpgv >/dev/null 2>&1 || need+=(gpgv)
	command -v xz >/dev/null 2>&1 || need+=(xz-utils)
	printf '%s\n' "${need[@]}"
}

# Installs what is missing when run as root, saying what; otherwise stops with the one command
# to run. Serialised: parallel test processes may call it at once.
ensure_host_packages() {
	local need
	mapfile -t need < <(missing_host_packages | grep -v '^$' || true)
	[ ${#need[@]} -eq 0 ] && return 0
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		die "missing Debian packages: ${need[*]}. Install them with: sudo apt-get install -y ${need[*]}"
	fi
	mkdir -p "$CACHE"
	exec 8>"$CACHE/host-packages.lock"
	flock 8
	mapfile -t need < <(missing_host_packages | grep -v '^$' || true)
	if [ ${#need[@]} -gt 0 ]; then
		step "installing the Debian packages the test bed needs: ${need[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 ||
			die "apt-get update failed: install by hand with: apt-get install -y ${need[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2 ||
			die "apt-get install failed: install by hand with: apt-get install -y ${need[*]}"
	fi
	exec 8>&-
}
