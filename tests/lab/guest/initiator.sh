#!/bin/bash
# The open-iscsi initiator of the peer guest, for the volume scenarios (run
# there through lib.sh's `initiator`, which is `peer bash initiator.sh`).
# A lab tool, never part of the product.
#
#   initiator.sh up NAME            the initiator named NAME, iscsid running
#   initiator.sh iface IFACE NAME   an iface that logs in as initiator NAME
#   initiator.sh sessions           one line a session: IQN IFACE SID STATE DISK
#                                   (DISK "-" until the kernel attached one)
#   initiator.sh disk IQN [IFACE]   /dev/sdX of the session to IQN through IFACE
#                                   (default "default"), once udev made it
#   initiator.sh stream DISK FILE SEEK_MIB UNTIL
#                                   writes FILE to DISK at SEEK_MIB, 1 MiB at
#                                   a time, O_DIRECT, over and over (touching
#                                   /tmp/writing once started) until the file
#                                   UNTIL exists and a pass is whole; prints
#                                   how many MiB it wrote
#   initiator.sh down               every session logged out, every node and
#                                   iface record removed, iscsid stopped
set -euo pipefail

sessions() {
  # -P3 prints, under each "Target:", each session from its "Iface Name:".
  iscsiadm -m session -P 3 2>/dev/null | awk '
    function flush() { if (sid != "") print iqn, iface, sid, state, disk; sid = ""; disk = "-"; state = "-" }
    /^Target:/ { flush(); iqn = $2 }
    /Iface Name:/ { flush(); iface = $3 }
    /^[[:space:]]*SID:/ { sid = $2 }
    /iSCSI Session State:/ { state = $4 }
    /Attached scsi disk/ { disk = $4 }
    END { flush() }' || true
}

case $1 in
  up)
    echo "InitiatorName=$2" >/etc/iscsi/initiatorname.iscsi
    modprobe iscsi_tcp
    # iscsid reads the name when it starts: a running one is restarted.
    if pgrep -x iscsid >/dev/null; then
      iscsiadm -k 0 2>/dev/null || true
      for _ in $(seq 1 50); do pgrep -x iscsid >/dev/null || break; sleep 0.1; done
    fi
    iscsid </dev/null >/dev/null 2>&1
    # Up once iscsiadm reaches it: 0, or 21 for "no active sessions".
    for _ in $(seq 1 100); do
      rc=0
      iscsiadm -m session >/dev/null 2>&1 || rc=$?
      [ "$rc" = 0 ] || [ "$rc" = 21 ] && exit 0
      sleep 0.1
    done
    echo "iscsid did not answer" >&2
    exit 1
    ;;
  iface)
    iscsiadm -m iface -I "$2" -o new >/dev/null
    iscsiadm -m iface -I "$2" -o update -n iface.initiatorname -v "$3" >/dev/null
    ;;
  sessions) sessions ;;
  disk)
    for _ in $(seq 1 100); do
      disk=$(sessions | awk -v t="$2" -v i="${3:-default}" '$1 == t && $2 == i && $5 != "-" {print $5; exit}')
      if [ -n "$disk" ] && [ -b "/dev/$disk" ]; then
        udevadm settle --timeout=20
        echo "/dev/$disk"
        exit 0
      fi
      sleep 0.2
    done
    echo "no disk for a session to $2 through ${3:-default}: $(sessions)" >&2
    exit 1
    ;;
  stream)
    chunks=$(($(stat -c %s "$3") / 1048576)) n=0
    while :; do
      i=$((n % chunks))
      dd if="$3" of="$2" bs=1M skip="$i" seek=$(($4 + i)) count=1 oflag=direct conv=notrunc status=none
      n=$((n + 1))
      [ "$n" != 1 ] || touch /tmp/writing
      if [ $((n % chunks)) = 0 ] && [ -e "$5" ]; then break; fi
    done
    echo "$n"
    ;;
  down)
    iscsiadm -m node --logoutall=all >/dev/null 2>&1 || true
    iscsiadm -m node -o delete >/dev/null 2>&1 || true
    for i in $(iscsiadm -m iface 2>/dev/null | awk '{print $1}'); do
      case $i in default | iser) ;; *) iscsiadm -m iface -I "$i" -o delete >/dev/null 2>&1 || true ;; esac
    done
    rm -rf /etc/iscsi/nodes/* /etc/iscsi/send_targets/*
    iscsiadm -k 0 >/dev/null 2>&1 || true
    ;;
  *)
    sed -n '2,15p' "$0" >&2
    exit 2
    ;;
esac
