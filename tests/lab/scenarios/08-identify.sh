# Identify through the console on the emulated 24-bay JBOD: the enclosure
# receives one control page that SELECTs that one element with RQST IDENT,
# and nothing else changes; off again the same way; and the agent turns a
# forgotten identify LED off by itself (locate_off_minutes = 1 here).
console_start '' 'locate_off_minutes = 1'
ses_up sas2-24bay
wait_until "the console shows the 24 bays" 120 ses_check sysfs
E=0x500304801f3c7a3f
lights() { jq -c '[.[].groups[].elements[] | {name, ident, fault, status}]' "$SES_STATE/state.json"; }

before=$(lights)
ses_mark
job=$(api_ok POST "/api/v1/bays/$E/7/locate" '{"on":true}' | jq .job_id)
expect_eq "the identify job" "$(wait_job "$job" | jq -r .state)" succeeded
expect_eq "the control pages the enclosure received" "$(ses_requests)" '[[{"slot":7,"ident":true,"fault":false}]]'
changed=$(jq -nc --argjson a "$before" --argjson b "$(lights)" '[range(0; $a | length) | select($a[.] != $b[.]) | $b[.].name]')
expect_eq "the elements that changed" "$changed" '["Slot07"]'
wait_until "the console shows Slot07 identifying" 30 ses_check sysfs

ses_mark
job=$(api_ok POST "/api/v1/bays/$E/7/locate" '{"on":false}' | jq .job_id)
expect_eq "the job switching it off" "$(wait_job "$job" | jq -r .state)" succeeded
expect_eq "the control pages for off" "$(ses_requests)" '[[{"slot":7,"ident":false,"fault":false}]]'
expect_eq "every element as before" "$(lights)" "$before"
wait_until "the console shows Slot07 dark" 30 ses_check sysfs

# Left on: the agent switches it off after a minute.
job=$(api_ok POST "/api/v1/bays/$E/12/locate" '{"on":true}' | jq .job_id)
expect_eq "identify on Slot12" "$(wait_job "$job" | jq -r .state)" succeeded
lit=$SECONDS
ses_mark
wait_until "the agent switches Slot12 off by itself" 150 is false ses_element jbod24 Slot12 ident
((SECONDS - lit >= 55)) || fail "Slot12 went dark after $((SECONDS - lit)) s, before its minute"
expect_eq "the control pages of the switch-off" "$(ses_requests)" '[[{"slot":12,"ident":false,"fault":false}]]'
auto=$(api_ok GET /api/v1/jobs | jq -c '[.[] | select(.requested_by == "baystack" and .kind == "bay.locate")] | length')
expect_eq "jobs the agent queued for it" "$auto" 1
wait_until "the console shows Slot12 dark" 30 ses_check sysfs
