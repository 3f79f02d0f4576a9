#!/bin/sh
# Local switching of TSO frames between two VNICs of one overlay on one
# fkoverlayd (mac.rs: a TSO frame for a local VNIC is written whole into
# the other TAP, vnet header included). foo1's TAP is moved into a second
# namespace so the traffic really crosses fkoverlayd instead of Linux's
# loopback. Run as root from the repository root after
# `cargo build --release --bins`; prints iperf3's figure and fkoverlayd's
# counters, and cleans up on exit.
#
#   CARGO_TARGET_DIR=... sh tests/bench/local_tso.sh
set -eu
T=${CARGO_TARGET_DIR:-target}/release
A=bnlt$$a; B=bnlt$$b; R=$(mktemp -d /tmp/overlay-bnlt.XXXXXX)
cleanup() {
    for ns in $A $B; do
        for p in $(ip netns pids $ns 2>/dev/null); do kill $p 2>/dev/null || true; done
    done
    sleep 0.5
    for ns in $A $B; do
        for p in $(ip netns pids $ns 2>/dev/null); do kill -9 $p 2>/dev/null || true; done
        ip netns del $ns 2>/dev/null || true
    done
    rm -rf "$R"
}
trap cleanup EXIT INT TERM
ip netns add $A; ip netns add $B
ip -n $A link set lo up; ip -n $B link set lo up
ip -n $A link add d0 type veth peer name d1; ip -n $A link set d1 up; ip -n $A addr add 10.88.88.69/24 dev d0; ip -n $A link set d0 up
x() { ip netns exec $A env OVERLAY_ROOT=$R "$@"; }
x $T/fkoverlayd; x $T/varpd
x $T/dladm create-overlay -t -e vxlan -s direct -p vxlan/listen_ip=10.88.88.69 \
    -p direct/dest_ip=10.88.88.70 -p direct/dest_port=4789 -v 23 demo0
x $T/dladm create-vnic -t -l demo0 foo0
x $T/dladm create-vnic -t -l demo0 foo1
ip -n $A link set foo1 netns $B
ip -n $A addr add 10.55.55.1/24 dev foo0; ip -n $A link set foo0 up
ip -n $B addr add 10.55.55.2/24 dev foo1; ip -n $B link set foo1 up
ip netns exec $B ping -c 2 -W 2 10.55.55.1 >/dev/null
ip netns exec $A iperf3 -s -1 -B 10.55.55.1 >/dev/null 2>&1 &
sleep 0.5
ip netns exec $B iperf3 -c 10.55.55.1 -t ${SECS:-5} -f g | tail -4
x $T/fkoverlayd stats | grep -v ' 0$'
