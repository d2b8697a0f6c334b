#!/usr/bin/env bash
# Run one Criterion test binary of the asan variant (make test-asan) and
# judge LeakSanitizer's reports by where the leaked block was allocated:
#   - a leak with a frame of ours (anything but the sanitizer's interceptor
#     and libcriterion) fails the binary, even when it happened in a test's
#     worker process, whose exit status Criterion ignores once the test
#     passed;
#   - a leak allocated by libcriterion alone, in the runner process, is
#     Criterion 2.4.1's own (BoxFort's timeout list: with tests that set
#     .timeout running in parallel, a 48-byte request is sometimes never
#     freed): reported and forgiven when every test passed.
# Usage: scripts/asan-test.sh TEST_BINARY [ARGS...]
set -uo pipefail
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
verdict=$(awk '
	/ERROR: LeakSanitizer/ { inrep = 1; next }
	/^SUMMARY: AddressSanitizer/ { inrep = 0; next }
	inrep && /^ *#[0-9]+ / {
		if ($0 ~ /__interceptor_|libcriterion\.so/) criterion++; else ours++
	}
	END { printf "%d %d\n", ours + 0, criterion + 0 }' "$log")
ours=${verdict% *} theirs=${verdict#* }
if [ "$ours" -gt 0 ]; then
  echo "asan-test.sh: $1: LeakSanitizer found a leak in our code (see above)" >&2
  exit 1
fi
if [ "$rc" -ne 0 ] && [ "$theirs" -gt 0 ] && grep -q 'Failing: 0 | Crashing: 0' "$log" &&
   ! grep -qE 'Failing: [1-9]|Crashing: [1-9]|ERROR: AddressSanitizer|runtime error' "$log"; then
  echo "asan-test.sh: $1: every test passed; the only leak is libcriterion's own (forgiven)" >&2
  exit 0
fi
exit "$rc"
