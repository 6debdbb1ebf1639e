# Power supply, fan and temperature faults an enclosure reports while the
# console runs show on the enclosure under the element's name, and go when
# the enclosure reports them well again. (The profiles' own faults are
# checked by 07-enclosure-profiles.)
console_start
ses_up sas2-24bay
wait_until "the console shows the 24 bays, all elements OK" 120 ses_check sysfs
element() { api_ok GET /api/v1/enclosures | jq -c --arg n "$1" '.[].elements[] | select(.name == $n) | {status, detail}'; }

ses_ctl '{"op":"set","enclosure":"jbod24","type":"power supply","name":"PSU 2","status":"critical"}'
ses_ctl '{"op":"set","enclosure":"jbod24","type":"cooling","name":"Fan 3","status":"critical"}'
ses_ctl '{"op":"set","enclosure":"jbod24","type":"temperature sensor","name":"Expander Temp","status":"critical","temperature":71}'
wait_until "the console shows the three faults" 30 ses_check sysfs
expect_eq "PSU 2" "$(element 'PSU 2')" '{"status":"critical","detail":"Fail, AC fail"}'
expect_eq "Fan 3" "$(element 'Fan 3')" '{"status":"critical","detail":"0 rpm, Fail"}'
expect_eq "Expander Temp" "$(element 'Expander Temp')" '{"status":"critical","detail":"71 C, OT failure"}'
expect_eq "PSU 1 stays well" "$(element 'PSU 1')" '{"status":"OK","detail":""}'
page=$(curl -fsS -H "authorization: Bearer $TOKEN" "$URL/bays/map")
expect_match "the bay map names the failed power supply" "$page" 'element trouble"[^>]*><strong>PSU 2</strong> critical'

for name in "PSU 2" "Fan 3" "Expander Temp"; do
  kind=$(jq -r --arg n "$name" '.[].groups[] | select(any(.elements[]; .name == $n)) | .type_name' "$SES_STATE/state.json")
  ses_ctl "{\"op\":\"set\",\"enclosure\":\"jbod24\",\"type\":\"$kind\",\"name\":\"$name\",\"status\":\"OK\",\"temperature\":40}"
done
wait_until "the console shows them well again" 30 ses_check sysfs
expect_eq "PSU 2 again" "$(element 'PSU 2')" '{"status":"OK","detail":""}'
expect_eq "Fan 3 again" "$(element 'Fan 3')" '{"status":"OK","detail":"4000 rpm"}'
expect_eq "Expander Temp again" "$(element 'Expander Temp')" '{"status":"OK","detail":"40 C"}'
