# MPI helpers for the shell tests of distributed runs (tests/cli/mpi_*.sh; sourced after
# checks.sh). CMake sets CLIPPO_MPIEXEC to the launcher it found, empty in a build without MPI;
# the tests' environment also lets mpirun run as root (CI is root).

# need_mpi CLIPPO: finishes the test as skipped (exit 77) when the program has no MPI; fails
# when CMake and the program disagree about it.
need_mpi() {
  local version
  version=$("$1" version 2>&1)
  if [ -z "${CLIPPO_MPIEXEC:-}" ]; then
    if echo "$version" | grep -q "^MPI: none"; then
      skip "clippo built without MPI (cmake -DCLIPPO_MPI=ON with libopenmpi-dev)"
      finish
    fi
    echo "FAIL: CLIPPO_MPIEXEC is empty but clippo version says: $version"
    exit 1
  fi
  if echo "$version" | grep -q "^MPI: none"; then
    echo "FAIL: CMake found MPI ($CLIPPO_MPIEXEC) but clippo version says: $version"
    exit 1
  fi
}

# The sanitizer options of programs started by the launcher: LeakSanitizer off in them, as
# Open MPI does not free what MPI_Init allocates and unloads the components that hold it (leaks
# LeakSanitizer can neither attribute nor suppress); the one-process runs of the same code in
# these and the other tests are leak-checked. AddressSanitizer itself stays on.
mpi_asan="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

# mpi_run NP ARGS...: ARGS under the launcher with NP ranks on this machine (more ranks than
# cores allowed), stopped after 300 s so that a hang fails the test instead of blocking it.
mpi_run() {
  local np=$1
  shift
  ASAN_OPTIONS=$mpi_asan timeout 300 "$CLIPPO_MPIEXEC" --oversubscribe -np "$np" "$@"
}

# first_device CLIPPO: sets dev to the first OpenCL device's P:D, or finishes the test as skipped
# when there is none.
first_device() {
  dev=$("$1" devices 2>/dev/null | grep -o '^ *[0-9]*:[0-9]*' | head -1 | tr -d ' ')
  if [ -z "$dev" ]; then
    skip "no OpenCL device"
    finish
  fi
}
