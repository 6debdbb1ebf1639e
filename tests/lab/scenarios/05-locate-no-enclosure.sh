# Identify on a drive that sits in no enclosure (an AHCI disk, with the
# kernel's ses driver loaded and no enclosure to bind): the job fails with
# the reason in words, its command log shows what it ran, and nothing
# changes.
modprobe ses
on_teardown 'modprobe -r ses enclosure'
serial=BAYSA0001
dev=$(dev_of "$serial")
console_start
wait_until "the console lists $serial" 60 is true drives ".[] | select(.serial == \"$serial\") | .present"
drive=$(drives ".[] | select(.serial == \"$serial\")")
expect_eq "the console places it in no bay" "$(jq -c .bay <<<"$drive")" null
expect_eq "the kernel lists no enclosure" "$(ls -A /sys/class/enclosure | wc -l)" 0
expect_eq "nor links the disk to one" "$(ls -d /sys/block/"$dev"/device/enclosure_device* 2>/dev/null | wc -l)" 0

job_id=$(api_ok POST "/api/v1/drives/$(jq .id <<<"$drive")/locate" '{"on": true}' | jq .job_id)
job=$(wait_job "$job_id")
expect_eq "the job's state" "$(jq -r .state <<<"$job")" failed
error=$(jq -r .error <<<"$job")
expect_match "the reason" "$error" "^step 1 failed: /dev/$dev \(BAYLAB SSD 64 $serial\) sits in no enclosure bay, so it has no identify LED to light: this machine has no enclosure"
expect_match "where it is attached" "$error" "attached at SCSI address $(lsblk -dno HCTL "/dev/$dev") \(sata\)"
expect_eq "what it ran" "$(jq -c '[.commands[].argv | [(.[0] | split("/") | last)] + .[1:]]' <<<"$job")" \
  '[["lsblk","-J","-O","-b"]]'
expect_eq "and how that ended" "$(jq -c '[.commands[].exit_code]' <<<"$job")" '[0]'

expect_eq "the kernel still lists no enclosure" "$(ls -A /sys/class/enclosure | wc -l)" 0
expect_eq "no bay appeared" "$(api_ok GET /api/v1/bays)" "[]"
after=$(drives ".[] | select(.serial == \"$serial\")")
expect_eq "the drive's record is as it was" "$(jq -c '{present, bay, dev_name, ident}' <<<"$after")" \
  "$(jq -c '{present, bay, dev_name, ident}' <<<"$drive")"
