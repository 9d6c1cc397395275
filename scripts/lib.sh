# shellcheck shell=bash
# Shell functions shared by scripts/test and scripts/demo; source it from
# bash.

# The Debian packages that building and testing cutover needs: prometheus
# for promtool (t/metrics.t), chromium for the status page (t/status_page.t),
# openssl and IO::Socket::SSL for test certificates and clients (t/tls.t).
# shellcheck disable=SC2034
CUTOVER_DEPS="build-essential autoconf automake pkg-config libevent-dev
libssl-dev libcurl4-openssl-dev libinih-dev perl curl mandoc prometheus
openssl libio-socket-ssl-perl
chromium"

# ensure_deps PKG...: installs with apt-get the packages that are not
# installed yet, as root or through sudo; does nothing when all are there.
ensure_deps() {
	local missing=() pkg sudo=

	for pkg in "$@"; do
		if ! dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null |
		    grep -q ' installed$'; then
			missing+=("$pkg")
		fi
	done
	[ "${#missing[@]}" -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "missing packages: ${missing[*]}" >&2
			echo "run as root or install sudo" >&2
			return 1
		fi
		sudo=sudo
	fi
	echo "installing ${missing[*]}"
	$sudo apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_configure: makes ./configure from configure.ac when it is missing
# (run from the top of the source tree).
ensure_configure() {
	if [ -e config.status ]; then
		echo "the source tree is configured in place: run" \
		    "'make distclean' there first (builds go to build/)" >&2
		return 1
	fi
	[ -x configure ] || ./autogen.sh
}
