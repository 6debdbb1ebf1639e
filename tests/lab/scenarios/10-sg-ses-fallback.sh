# With the kernel's ses module unloaded the console reads and lights the
# emulated 24-bay JBOD through sg_ses, says so on the bay map, and its
# identify and fault LEDs still reach exactly the one element.
# udev would load it again for the new enclosure (its modalias): blacklisted.
echo 'blacklist ses' >/etc/modprobe.d/lab-no-ses.conf
on_teardown 'rm -f /etc/modprobe.d/lab-no-ses.conf; modprobe ses'
[ ! -d /sys/module/ses ] || modprobe -r ses
console_start
ses_up sas2-24bay
expect_eq "ses loaded or enclosures registered by the kernel" \
  "$(ls -d /sys/module/ses /sys/class/enclosure/* 2>/dev/null | wc -l)" 0
wait_until "the console reads the 24 bays through sg_ses" 120 ses_check sg_ses
E=0x500304801f3c7a3f
page=$(curl -fsS -H "authorization: Bearer $TOKEN" "$URL/bays/map")
expect_match "the bay map says how" "$page" "read and lit with sg_ses"

ses_mark
job=$(api_ok POST "/api/v1/bays/$E/7/locate" '{"on":true}' | jq .job_id)
expect_eq "identify through sg_ses" "$(wait_job "$job" | jq -r .state)" succeeded
job=$(api_ok POST "/api/v1/bays/$E/7/fault" '{"on":true}' | jq .job_id)
expect_eq "fault through sg_ses" "$(wait_job "$job" | jq -r .state)" succeeded
# sg_ses sends every element's status back; it SELECTs only the one.
expect_eq "the control pages the enclosure received" "$(ses_requests)" \
  '[[{"slot":7,"ident":true,"fault":false}],[{"slot":7,"ident":true,"fault":true}]]'
wait_until "the console shows both LEDs of slot 7" 30 ses_check sg_ses
ses_mark
for led in locate fault; do
  job=$(api_ok POST "/api/v1/bays/$E/7/$led" '{"on":false}' | jq .job_id)
  expect_eq "$led off through sg_ses" "$(wait_job "$job" | jq -r .state)" succeeded
done
expect_eq "the control pages for off" "$(ses_requests)" \
  '[[{"slot":7,"ident":false,"fault":true}],[{"slot":7,"ident":false,"fault":false}]]'
wait_until "the console shows slot 7 dark" 30 ses_check sg_ses
