# What the scripts in tests/services have in common, sourced by each of them after it has set
# `service` (its name in messages) and `dir` (its private directory).
# shellcheck shell=bash

log() { echo "$service: $*" >&2; }
die() {
    log "$*"
    exit 1
}

# apt_install PACKAGE...: install from Debian, as root or through `sudo -n`. Package scripts
# would start system daemons (a default RabbitMQ node, slapd, Prometheus on :9090) through
# invoke-rc.d; a policy-rc.d present while apt-get runs keeps every one of them stopped.
apt_install() {
    local sudo=() policy_added=0 status=0
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "$* not installed and we are not root"
        sudo=(sudo -n)
    fi
    log "installing $* with apt-get"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
        policy_added=1
    fi
    {
        "${sudo[@]}" apt-get -q -o DPkg::Lock::Timeout=600 update &&
            DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -q -o DPkg::Lock::Timeout=600 \
                install -y --no-install-recommends "$@"
    } >&2 || status=$?
    if [ "$policy_added" -eq 1 ]; then "${sudo[@]}" rm -f /usr/sbin/policy-rc.d; fi
    [ "$status" -eq 0 ] || die "apt-get install $* failed (exit $status)"
}

# with_lock SECONDS: wait that long at most for the service's own lock, then hold it until the
# script ends. Daemons started from here work in the service's directory, not in the caller's,
# which may be deleted while they run (a clean clone removed after its tests): RabbitMQ's
# management API then answered 500 to everything.
with_lock() {
    mkdir -p "$dir"
    cd "$dir"
    exec 9>"$dir/lock"
    flock -w "$1" 9 || die "another tests/services/$service holds $dir/lock"
}

# live_leases: how many processes that registered a lease (`up --lease PID`) still run; the
# leases of processes gone are removed.
live_leases() {
    local f pid n=0
    for f in "$dir"/leases/*; do
        [ -e "$f" ] || continue
        pid=${f##*/}
        if kill -0 "$pid" 2>/dev/null; then
            n=$((n + 1))
        else
            rm -f "$f"
        fi
    done
    echo "$n"
}
