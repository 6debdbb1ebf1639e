# A drive pulled from the emulated JBOD (its LUN removed, its slot reporting
# "not installed") leaves an empty bay at the next observation and the drive
# missing; a new drive put in the same slot is seen there.
console_start
ses_up sas2-24bay
wait_until "the console shows the 24 bays" 120 ses_check sysfs
E=0x500304801f3c7a3f
bay() { api_ok GET /api/v1/bays | jq -c --arg e "$E" '.[] | select(.enclosure == $e and .slot == 9) | {state, serial: .drive.serial}'; }
wait_until "slot 9 holds Z1Z8A009, healthy" 150 is '{"state":"healthy","serial":"Z1Z8A009"}' bay
kernel_has Z1Z8A009 || fail "the kernel does not list Z1Z8A009 before the pull"

ses_ctl '{"op":"pull","enclosure":"jbod24","slot":9}'
wait_until "the kernel has Z1Z8A009 no more" 30 kernel_lacks Z1Z8A009
wait_until "the console shows slot 9 empty" 30 is '{"state":"empty","serial":null}' bay
# The enclosure may report the slot empty an observation before the kernel
# lets go of the disk: the drive is missing once an observation sees both.
wait_until "Z1Z8A009 is missing" 30 is false drives -r '.[] | select(.serial == "Z1Z8A009") | .present'
ses_check sysfs

ses_ctl '{"op":"insert","enclosure":"jbod24","slot":9,"drive":{"vendor":"HGST","model":"HUS726040AL5210","serial":"K4K1C009","sas_address":"5000cca0b1c2d309"}}'
udevadm settle
wait_until "the kernel has K4K1C009, with its by-id link" 30 kernel_has K4K1C009
wait_until "the console shows the new drive in slot 9" 150 is '{"state":"healthy","serial":"K4K1C009"}' bay
ses_check sysfs
