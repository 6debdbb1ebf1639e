# The bay map in a real browser, served by the linux backend for the
# emulated 24-bay JBOD: headless Chromium on the host (tests/browser/
# lab-bays.mjs, started by lab.sh) reaches the console through qemu's user
# networking, forwarded to the host's loopback only; it clicks Identify on
# slot 7 and sees the bay lit without a reload. The enclosure must have
# received exactly that request.
nic=""
for n in /sys/class/net/eth*; do [[ $(cat "$n/address") == *:02 ]] && nic=$(basename "$n"); done
[ -n "$nic" ] || fail "no NIC on qemu user networking (boot.sh -f)"
ip addr add 10.0.2.15/24 dev "$nic"
ip link set "$nic" up
on_teardown "ip link set $nic down; ip addr flush dev $nic"
console_start 0.0.0.0:8080
ses_up sas2-24bay
wait_until "the console shows the 24 bays" 120 ses_check sysfs
ses_mark
rm -f "$LAB/browser-done"
echo "lab password 1" >"$LAB/browser-ready"
wait_until "the browser test on the host finishes" 300 test -e "$LAB/browser-done"
cat "$LAB/out/browser.log"
expect_eq "the browser test's exit status" "$(cat "$LAB/browser-done")" 0
expect_eq "what the click sent the enclosure" "$(ses_requests)" '[[{"slot":7,"ident":true,"fault":false}]]'
ls "$LAB/out/browser/"*.png
