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

# Two consoles, not one seen twice: each names its own host.
name=$(curl -fsS -H "authorization: Bearer $peer_token" "http://$PEER_IP:8080/api/v1/system" | jq -r .hostname)
expect_eq "the peer console's host name" "$name" lab-peer
name=$(api_ok GET /api/v1/system | jq -r .hostname)
expect_eq "the main console's host name" "$name" lab-main
