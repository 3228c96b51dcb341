# shellcheck shell=bash
# Compose v2 for the test bed, sourced by testbed/bed.
#
# Most users run `docker compose` (v2); Debian 12 only packages Compose v1 (`docker-compose`
# 1.29). Debian 13 (trixie, the suite the test images come from) packages v2 as
# `docker-compose` 2.x, a Docker CLI plugin. `bed compose-v2` fetches that .deb from the same
# mirror debootstrap uses, checks it against trixie's signed Release file (gpgv with the host's
# archive keyring: the same trust debootstrap relies on), unpacks the plugin binary and installs
# it where the docker CLI looks for plugins. The verified binary is cached, so a second run (or
# a machine without network, once the cache is filled) needs nothing from the mirror.

COMPOSE_V2_SUITE=trixie
COMPOSE_V2_PACKAGE=docker-compose

# Where the plugin goes: the docker CLI's per-user plugin directory ($DOCKER_CONFIG/cli-plugins,
# default ~/.docker/cli-plugins). A test or a shared machine can point DOCKER_CONFIG elsewhere to
# try v2 without changing everyone's CLI.
compose_v2_plugin_dir() {
	echo "${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
}

# Downloads URL to FILE (curl, else wget), failing on HTTP errors.
compose_v2_fetch() {
	local url=$1 out=$2
	if command -v curl >/dev/null; then
		curl -fsSL --retry 3 -o "$out" "$url"
	elif command -v wget >/dev/null; then
		wget -q -O "$out" "$url"
	else
		die "neither curl nor wget is installed: apt-get install -y curl"
	fi
}

# Fills $CACHE/compose-v2 with the verified plugin binary and its version; prints the binary's
# path. Reuses the cache when it holds a binary whose checksum matches what was recorded.
compose_v2_download() {
	local dir="$CACHE/compose-v2"
	if [ -f "$dir/docker-compose" ] && [ -f "$dir/sha256" ] &&
		[ "$(sha256sum "$dir/docker-compose" | cut -d' ' -f1)" = "$(cat "$dir/sha256")" ]; then
		step "compose-v2: cached $(cat "$dir/version") ($dir)" >&2
		echo "$dir/docker-compose"
		return
	fi
	command -v gpgv >/dev/null || die "gpgv is missing (it checks the Debian Release signature): apt-get install -y gpgv"
	command -v dpkg-deb >/dev/null || die "dpkg-deb is missing: this needs a Debian-based machine"
	# The whole archive keyring, as debootstrap is given: InRelease carries several signatures
	# (the release key and the archive's automatic signing keys) and gpgv wants them all known.
	local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	[ -f /usr/share/keyrings/debian-archive-trixie-stable.gpg ] ||
		die "the host keyring has no Debian 13 (trixie) key: apt-get install -y 'debian-archive-keyring>=2023.3+deb12u1'"
	local mirror arch tmp
	mirror=$(debian_mirror)
	mirror=${mirror%/}
	arch=$(dpkg --print-architecture)
	tmp="$dir.tmp"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	step "compose-v2: reading $COMPOSE_V2_SUITE's signed package index from $mirror" >&2
	compose_v2_fetch "$mirror/dists/$COMPOSE_V2_SUITE/InRelease" "$tmp/InRelease"
	gpgv --keyring "$keyring" --output "$tmp/Release" "$tmp/InRelease" 2>"$tmp/gpgv.log" ||
		die "the signature of $mirror/dists/$COMPOSE_V2_SUITE/InRelease does not verify with $keyring: $(grep -v 'using\|Signature made' "$tmp/gpgv.log" | tr '\n' ' ')"
	# The SHA256 section's lines have 64 hex digits (the MD5Sum section's have 32).
	local index="main/binary-$arch/Packages.xz" want
	want=$(awk -v f="$index" '$3 == f && length($1) == 64 { print $1 }' "$tmp/Release")
	[ -n "$want" ] || die "$COMPOSE_V2_SUITE's Release lists no $index"
	compose_v2_fetch "$mirror/dists/$COMPOSE_V2_SUITE/$index" "$tmp/Packages.xz"
	[ "$(sha256sum "$tmp/Packages.xz" | cut -d' ' -f1)" = "$want" ] ||
		die "$index does not match the checksum in the signed Release file"
	# The package's stanza: Version, Filename and SHA256 of the .deb.
	local stanza version filename sha
	stanza=$(xz -dc "$tmp/Packages.xz" | awk -v RS= -v p="$COMPOSE_V2_PACKAGE" \
		'$0 ~ "(^|\n)Package: " p "\n" { print; exit }')
	version=$(sed -n 's/^Version: //p' <<<"$stanza")
	filename=$(sed -n 's/^Filename: //p' <<<"$stanza")
	sha=$(sed -n 's/^SHA256: //p' <<<"$stanza")
	[ -n "$filename" ] && [ -n "$sha" ] ||
		die "$COMPOSE_V2_SUITE/main/$arch has no package $COMPOSE_V2_PACKAGE"
	case "$version" in 2.*) ;; *) die "$COMPOSE_V2_SUITE's $COMPOSE_V2_PACKAGE is $version, not Compose v2" ;; esac
	step "compose-v2: downloading $COMPOSE_V2_PACKAGE $version ($filename)" >&2
	compose_v2_fetch "$mirror/$filename" "$tmp/package.deb"
	[ "$(sha256sum "$tmp/package.deb" | cut -d' ' -f1)" = "$sha" ] ||
		die "$filename does not match the checksum in the signed package index"
	dpkg-deb -x "$tmp/package.deb" "$tmp/root"
	local bin="$tmp/root/usr/libexec/docker/cli-plugins/docker-compose"
	[ -x "$bin" ] || die "$filename has no usr/libexec/docker/cli-plugins/docker-compose"
	rm -rf "$dir"
	mkdir -p "$dir"
	mv "$bin" "$dir/docker-compose"
	echo "$version" >"$dir/version"
	sha256sum "$dir/docker-compose" | cut -d' ' -f1 >"$dir/sha256"
	rm -rf "$tmp"
	echo "$dir/docker-compose"
}

# `bed compose-v2`: the plugin installed, `docker compose version` checked. Idempotent: an
# installed plugin with the same bytes is left alone.
compose_v2_install() {
	command -v docker >/dev/null || die "the docker CLI is missing: the plugin needs it"
	local bin plugdir target
	bin=$(compose_v2_download)
	plugdir=$(compose_v2_plugin_dir)
	target="$plugdir/docker-compose"
	if [ -x "$target" ] && cmp -s "$bin" "$target"; then
		step "compose-v2: already installed as $target"
	else
		step "compose-v2: installing $(cat "$CACHE/compose-v2/version") as $target"
		mkdir -p "$plugdir"
		install -m 0755 "$bin" "$target.tmp"
		mv "$target.tmp" "$target"
	fi
	local v
	v=$(docker compose version --short 2>/dev/null) ||
		die "docker compose does not run after installing $target (the CLI looks in \$DOCKER_CONFIG/cli-plugins, ~/.docker/cli-plugins and /usr/local/lib/docker/cli-plugins)"
	case "$v" in 2.*) ;; *) die "docker compose reports version $v, not 2.x (another plugin earlier in the search path?)" ;; esac
	step "compose-v2: docker compose version $v"
}
