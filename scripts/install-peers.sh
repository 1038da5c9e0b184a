#!/usr/bin/env bash
# Installs the peers of `spectrum bench` / `cargo bench -p spectrum-cli --bench skynet`: Go and
# Erlang from Debian's package manager. Optional: without them the suite says so and runs the
# rest. CI does not run this.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends golang-go erlang-base
go version
erl -noshell -eval 'io:format("Erlang/OTP ~s~n", [erlang:system_info(otp_release)]), halt().'
