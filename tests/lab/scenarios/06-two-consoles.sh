# Two guests, two consoles: each reaches the other's /healthz over the
# private link (qemu socket networking on the host's loopback).
console_start 0.0.0.0:8080
wait_until "the peer guest answers" 240 curl -fsS --max-time 2 -X POST "http://$PEER_IP:7070/run" --data '{"argv":["true"]}'
peer_token=$(peer bash /lab/lab/guest/console.sh /tmp/peer-console 0.0.0.0:8080)
on_teardown "curl -sS -X POST http://$PEER_IP:7070/run --data '{\"argv\":[\"pkill\",\"-f\",\"/lab/bin/baystack\"]}' >/dev/null"

health=$(curl -fsS --max-time 10 "http://$PEER_IP:8080/healthz")
expect_eq "the peer's /healthz, from the main guest" "$(jq -r .status <<<"$health")" ok
health=$(peer curl -fsS --max-time 10 "http://$MAIN_IP:8080/healthz")
expect_eq "the main guest's /healthz, from the peer" "$(jq -r .status <<<"$health")" ok

# Two consoles, not one seen twice: each lists the disks its own kernel
# has (the main guest has the shelf's, the peer none of them), read from
# lsblk in each guest, not from anything the scenario told the consoles.
main_kernel=$(kernel_serials)
[ -n "$main_kernel" ] || fail "the main guest's kernel lists no disk serials"
main_console() { drives -r '[.[] | select(.present and .serial != "") | .serial] | sort | join(" ")'; }
wait_until "the main console lists what its kernel has ($main_kernel)" 60 is "$main_kernel" main_console
peer_kernel=$(peer lsblk -dn -o SERIAL | sed '/^[[:space:]]*$/d' | LC_ALL=C sort | paste -sd ' ')
peer_console() {
  curl -fsS -H "authorization: Bearer $peer_token" "http://$PEER_IP:8080/api/v1/drives" \
    | jq -r '[.[] | select(.present and .serial != "") | .serial] | sort | join(" ")'
}
wait_until "the peer console lists what the peer's kernel has ($peer_kernel)" 60 is "$peer_kernel" peer_console
[ "$main_kernel" != "$peer_kernel" ] || fail "the two guests' kernels list the same disks; the check proves nothing"
