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
# A Criterion worker that hangs before its test starts is killed, with
# its runner, and the binary run again (three runs at most). Criterion's
# runner forks a worker for each test while its own threads run, and the
# allocator of GCC 12's libasan takes no lock around fork: a fork that
# lands while another thread holds one of its locks leaves the worker
# waiting on that lock for ever (seen in CI runs in a debootstrapped
# Debian 12 root, never on the machine itself: the worker of one binary
# or another alone in a futex wait, inside Criterion's code, its runner
# in wait4). The sign
# watched for is exactly that: a process of the binary's command line
# with one thread, waiting on a futex, its CPU time unchanged for
# ASAN_TEST_STALL seconds (10 unless set); a single-threaded process has
# no thread of its own to wake it. Anything else that runs past
# ASAN_TEST_LIMIT seconds (900 unless set) fails. tests/e2e/test_asan_test.c
# checks all of this on stand-ins.
# The output goes to a file, not a pipe, which a hung worker would hold.
# Usage: scripts/asan-test.sh TEST_BINARY [ARGS...]
set -uo pipefail
log=$(mktemp)
hung=$(mktemp -u)
trap 'rm -f "$log" "$hung"' EXIT
limit=${ASAN_TEST_LIMIT:-900}
stall=${ASAN_TEST_STALL:-10}

# The pids and CPU times of the binary's processes that show the sign.
stuck_workers() {
  local p
  for p in $(pgrep -x -f -- "$*"); do
    [[ $(cat "/proc/$p/wchan" 2>/dev/null) == futex* ]] || continue
    grep -q '^Threads:[[:space:]]*1$' "/proc/$p/status" 2>/dev/null || continue
    echo "$p:$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null)"
  done
}

watchdog() {
  local pid=$1 seen="" now n=0
  shift
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    now=$(stuck_workers "$@")
    if [ -n "$now" ] && [ "$now" = "$seen" ]; then n=$((n + 1)); else n=0; fi
    seen=$now
    if [ "$n" -ge "$stall" ]; then
      echo "$now" >"$hung"
      pkill -KILL -x -f -- "$*"
      return
    fi
  done
}

# One run; rc is the binary's status. Fails when the watchdog fired.
run_once() {
  : >"$log"
  rm -f "$hung"
  timeout -k 10 "$limit" "$@" >"$log" 2>&1 &
  local pid=$!
  tail -n +1 -f --pid="$pid" "$log" &
  local tailpid=$!
  watchdog "$pid" "$@" &
  local wdpid=$!
  wait "$pid" 2>/dev/null	# no "Killed" line from the shell
  rc=$?
  kill "$wdpid" 2>/dev/null
  wait "$wdpid" 2>/dev/null
  wait "$tailpid"
  [ "$rc" -eq 124 ] && pkill -KILL -x -f -- "$*"
  [ ! -e "$hung" ]
}

for attempt in 1 2 3; do
  run_once "$@" && break
  echo "asan-test.sh: $1: a worker hung at fork in ASan's allocator (pid:utime stime $(tr '\n' ' ' <"$hung")); killed (run $attempt of 3)" >&2
  if [ "$attempt" -eq 3 ]; then
    exit 1
  fi
done
if [ "$rc" -eq 124 ]; then
  echo "asan-test.sh: $1: still running after $limit s (ASAN_TEST_LIMIT): failed" >&2
  exit 1
fi
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
