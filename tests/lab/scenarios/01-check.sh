# `baystack check --backend linux` in the guest: every tool the backend
# drives is found, with its version, and the verdict is green; with one tool
# gone the verdict is red and names it.
bin=$LAB/bin/baystack
out=$("$bin" check --backend linux --data-dir "$SCN/data") || fail "check failed in a complete guest: $out"
say "$out"
expect_match "verdict" "$out" "all checks passed"
for tool in mdadm lvm thin_check thin_delta smartctl sg_ses lsblk udevadm; do
  line=$(grep -E "^ok +tool $tool " <<<"$out") || fail "no green line for $tool"
  version=$("$tool" --version 2>&1 | head -1 || true)
  [ "$tool" = lvm ] && version=$(lvm version | head -1)
  [ "$tool" = mdadm ] && version=$(mdadm --version 2>&1)
  v=$(awk '{print $4}' <<<"$line")
  [[ $version == *"$v"* ]] || fail "$tool: check says $v, the tool says '$version'"
  say "ok: $tool $v, as the tool itself says"
done

hide_tool smartctl
rc=0
out=$("$bin" check --backend linux --data-dir "$SCN/data") || rc=$?
say "$out"
[ "$rc" != 0 ] || fail "check exited 0 with smartctl gone"
expect_match "red line" "$(grep -E '^FAIL +tool smartctl ' <<<"$out")" "not found in .*install the smartmontools package"
expect_match "verdict" "$out" "1 problem\(s\) found"
