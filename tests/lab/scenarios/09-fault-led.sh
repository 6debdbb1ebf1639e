# The fault LED on the emulated 24-bay JBOD: set and cleared by hand, lit by
# the agent when a drive's own health check starts predicting failure
# (smartctl reads the informational exception its log page now reports),
# and cleared by it once a healthy drive is in the bay instead.
console_start '' 'smart_interval_minutes = 1'
ses_up sas2-24bay
wait_until "the console shows the 24 bays" 120 ses_check sysfs
E=0x500304801f3c7a3f
health() { is "$2" drives -r ".[] | select(.serial == \"$1\") | .health"; }

ses_mark
job=$(api_ok POST "/api/v1/bays/$E/3/fault" '{"on":true}' | jq .job_id)
expect_eq "the fault job" "$(wait_job "$job" | jq -r .state)" succeeded
expect_eq "the control pages for fault on" "$(ses_requests)" '[[{"slot":3,"ident":false,"fault":true}]]'
wait_until "the console shows Slot03's fault LED" 30 ses_check sysfs
ses_mark
job=$(api_ok POST "/api/v1/bays/$E/3/fault" '{"on":false}' | jq .job_id)
expect_eq "the job clearing it" "$(wait_job "$job" | jq -r .state)" succeeded
expect_eq "the control pages for fault off" "$(ses_requests)" '[[{"slot":3,"ident":false,"fault":false}]]'

wait_until "Z1Z8A004 (Slot04) healthy" 150 health Z1Z8A004 healthy
ses_mark
ses_ctl '{"op":"health","serial":"Z1Z8A004","health":"failing"}'
wait_until "the console finds Z1Z8A004 failing" 150 health Z1Z8A004 failing
wait_until "the agent lights Slot04's fault LED" 60 is true ses_element jbod24 Slot04 fault
expect_eq "the control pages for it" "$(ses_requests)" '[[{"slot":4,"ident":false,"fault":true}]]'
reason=$(drives -r '.[] | select(.serial == "Z1Z8A004") | .health_reason')
expect_match "the drive's verdict in its own words" "$reason" "FAILURE PREDICTION THRESHOLD EXCEEDED \\(asc 0x5d"

# The failing drive pulled, a new one put in its bay.
ses_mark
ses_ctl '{"op":"pull","enclosure":"jbod24","slot":4}'
ses_ctl '{"op":"insert","enclosure":"jbod24","slot":4,"drive":{"model":"ST4000NM0023","serial":"Z1Z8B104","sas_address":"5000c50000c4d101"}}'
udevadm settle
wait_until "the kernel has Z1Z8A004 no more" 30 kernel_lacks Z1Z8A004
wait_until "the kernel has Z1Z8B104, with its by-id link" 30 kernel_has Z1Z8B104
wait_until "the console finds Z1Z8B104 healthy" 150 health Z1Z8B104 healthy
wait_until "the agent clears Slot04's fault LED" 60 is false ses_element jbod24 Slot04 fault
expect_eq "the control pages since the swap" "$(ses_requests)" '[[{"slot":4,"ident":false,"fault":false}]]'
wait_until "the console shows Z1Z8B104 in Slot04, no fault" 30 ses_check sysfs
