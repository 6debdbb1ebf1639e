# Every enclosure profile (tests/lab/ses/profiles), emulated behind the real
# kernel's ses driver: the console lists each enclosure, each bay with its
# number, name and status, the drive in it by serial (joined by SAS address:
# the kernel links none), and its power supplies, fans and sensors.
console_start
for profile in sas2-24bay smc-12bay no-descriptors no-aes duplicates head-and-jbod; do
  t=$SECONDS
  ses_up "$profile"
  wait_until "$profile: the console's bays and enclosures are the profile's" 120 ses_check sysfs
  say "$profile: $((SECONDS - t)) s from emulation to a matching console"
  ses_down
done
