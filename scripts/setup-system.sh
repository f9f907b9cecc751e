#!/usr/bin/env bash
# Install the Debian packages that suanli's integration tests need: a real Slurm (slurmctld,
# slurmd, client tools), MUNGE and PostgreSQL 15, and Chromium with its WebDriver
# (chromium, chromium-driver) for the browser tests of the HTML report.
#
# Idempotent and cheap: when every package is already installed it only runs dpkg-query and
# exits 0, also as a non-root user. `apt-get update` runs only when a package is missing.
# Packages are installed with a temporary policy-rc.d that forbids invoke-rc.d from starting
# their system services (slurmctld, slurmd, munge, postgresql): the tests start private
# daemons of their own and a system-wide one would only get in the way. The script never
# enables or starts a service.
#
# Exit status: 0 when everything is present (or was installed); 0 with a warning on stderr when
# packages are missing and we are not root (the tests then skip, or fail when
# SUANLI_REQUIRE_INFRA=1); non-zero when an installation as root fails.
set -euo pipefail

PACKAGES=(
    slurm-wlm slurmctld slurmd slurm-client munge postgresql postgresql-client
    chromium chromium-driver
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "installed" ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "setup-system: missing Debian packages: ${missing[*]}" >&2
    echo "setup-system: not root, cannot install them; run 'sudo $0' once." >&2
    echo "setup-system: the Slurm/PostgreSQL/browser integration tests will be skipped." >&2
    exit 0
fi

echo "setup-system: installing ${missing[*]} ..." >&2

# Forbid service start-up during the installation, unless a policy is already in place.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\n# temporary, written by suanli scripts/setup-system.sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
fi
cleanup() {
    if [[ $own_policy -eq 1 ]]; then
        rm -f "$policy"
    fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'cleanup; rm -f "$log"' EXIT
apt_get() {
    # Quiet unless it fails; wait for a dpkg lock held by another apt run.
    if ! apt-get -o DPkg::Lock::Timeout=300 "$@" >"$log" 2>&1; then
        cat "$log" >&2
        echo "setup-system: apt-get $* failed" >&2
        exit 1
    fi
}
apt_get update -qq
apt_get install -y -qq --no-install-recommends "${missing[@]}"

# With systemd as init the packages enable their units for the next boot; the tests do not
# want system-wide Slurm daemons (they would fail anyway without a site slurm.conf), so
# disable those. MUNGE and PostgreSQL units are left as the administrator configured them.
if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
    systemctl disable --now slurmctld.service slurmd.service >/dev/null 2>&1 || true
fi

echo "setup-system: done." >&2
