#!/bin/bash
# /init of the lab guest (PID 1 in its initramfs). Mounts the pseudo file
# systems, starts udev and a D-Bus system bus, brings up eth0 when the
# kernel command line gives lab.ip, mounts the host's 9p share "lab" on
# /lab, runs /lab/script.sh, writes its exit status to /lab/rc and powers
# off. Kernel command line: lab.host=NAME lab.ip=ADDR/PREFIX
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb LANG=C.UTF-8
mount -t proc proc /proc; mount -t sysfs sys /sys
mount -t devtmpfs dev /dev; mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts
mount -t tmpfs run /run; mount -t tmpfs tmp /tmp; mkdir -p /run/lock /run/lvm /root
exec </dev/console >/dev/console 2>&1
arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p" | tail -1; }
hostname "$(arg lab.host)" 2>/dev/null || hostname baylab
for m in virtio_pci virtio_blk virtio_net 9pnet_virtio 9p ahci sd_mod sg configfs; do
  modprobe -q "$m" || echo "init: modprobe $m failed"
done
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
/lib/systemd/systemd-udevd --daemon --resolve-names=never 2>/dev/null
udevadm trigger --action=add --type=subsystems; udevadm trigger --action=add --type=devices
udevadm settle --timeout=30
mkdir -p /run/dbus; dbus-daemon --system --fork   # targetcli asks the system bus for tcmu handlers
ip link set lo up
ip=$(arg lab.ip)
if [ -n "$ip" ]; then ip addr add "$ip" dev eth0 && ip link set eth0 up; fi
mkdir -p /lab
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none lab /lab; then
  echo "init: booted in $(cut -d' ' -f1 /proc/uptime)s"
  rc=0; ( cd /lab && bash /lab/script.sh ) || rc=$?
  echo "$rc" > /lab/rc
else
  echo "init: no 9p share 'lab'"
fi
sync; echo o > /proc/sysrq-trigger; sleep 10
