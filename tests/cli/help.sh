#!/usr/bin/env bash
# Help and typos (issue 12, points 14 and 15): every subcommand's --help ends with two or three
# examples of that command; `clippo help CMD` prints the same; a misspelt command or option gets
# a "did you mean" suggestion and exit 2.
set -u
clippo=$1
fail=0
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmds=$("$clippo" --help | awk '/^Commands:/{on=1; next} on && NF==0{exit} on{print $1}')
[ -n "$cmds" ] && echo "ok: commands listed" || { echo "FAIL: no commands in clippo --help"; fail=1; }
for cmd in $cmds; do
  "$clippo" "$cmd" --help >"$tmp/h" 2>&1; check "$cmd --help" 0 $?
  # the lines after the last "Examples:" line: 2 or 3 clippo commands, at least 2 of this one
  # (an example may set variables or start under mpirun: "mpirun -np 2 clippo ...")
  awk -v cmd="$cmd" -v pre='([A-Z_]+=[^ ]+ )*(mpirun( -[-a-z]+( [0-9]+)?)* )?' '/^Examples:$/ { n = 0; own = 0; seen = 1; bad = 0; next }
    seen { n++; if ($0 !~ ("^  " pre "clippo [a-z]")) bad = 1
           if ($0 ~ ("^  " pre "clippo " cmd "( |$)")) own++ }
    END { exit !(seen && n >= 2 && n <= 3 && own >= 2 && !bad) }' "$tmp/h"
  check "$cmd --help ends with 2-3 examples (clippo $cmd)" 0 $?
  "$clippo" help "$cmd" >"$tmp/h2" 2>&1; check "clippo help $cmd" 0 $?
  cmp -s "$tmp/h" "$tmp/h2" && echo "ok: help $cmd = $cmd --help" ||
    { echo "FAIL: clippo help $cmd differs from $cmd --help"; diff "$tmp/h" "$tmp/h2"; fail=1; }
done
"$clippo" help >/dev/null; check "clippo help" 0 $?
"$clippo" help no-such-command >/dev/null 2>"$tmp/e"; check "help of an unknown command" 2 $?
expect "help names the unknown command" "$tmp/e" "unknown command 'no-such-command'"

# did you mean: commands
"$clippo" zeroshoot >/dev/null 2>"$tmp/e"; check "misspelt command" 2 $?
expect "command suggestion" "$tmp/e" "unknown command 'zeroshoot' (did you mean 'zeroshot'?)"
"$clippo" evla >/dev/null 2>"$tmp/e"; check "transposed command" 2 $?
expect "transposition suggestion" "$tmp/e" "did you mean 'eval'?"
"$clippo" help rendr >/dev/null 2>"$tmp/e"; check "help of a misspelt command" 2 $?
expect "help suggestion" "$tmp/e" "did you mean 'render'?"
"$clippo" xyzzy >/dev/null 2>"$tmp/e"; check "unknown command" 2 $?
if grep -q "did you mean" "$tmp/e"; then echo "FAIL: a suggestion for xyzzy"; fail=1; else
  echo "ok: no suggestion when nothing is near"; fi

# did you mean: options, in every subcommand that parses through the option table
opt_case() { # NAME EXPECTED_SUGGESTION ARGS...
  local name=$1 want=$2
  shift 2
  "$clippo" "$@" >/dev/null 2>"$tmp/e"
  check "$name exits 2" 2 $? "$tmp/e"
  expect "$name suggests $want" "$tmp/e" "(did you mean '$want'?)"
}
opt_case "eval --templtes" --templates eval --templtes x --fashion-mnist
opt_case "eval --lim (prefix)" --limit eval --lim 3 --fashion-mnist
opt_case "zeroshot --clases" --classes zeroshot --clases a x.png
opt_case "render --scael" --scale render --scael 2 hi --out x.png
opt_case "bench --quik" --quick bench --quik
opt_case "convert --param-only" --params-only convert --param-only a.npz b.h5
opt_case "inspect --rwa" --raw inspect --rwa x.h5
opt_case "tune --dryrun" --dry-run tune --dryrun
opt_case "devices --chek" --check devices --chek
opt_case "version --hlep" --help version --hlep
"$clippo" eval --json=1 --fashion-mnist >/dev/null 2>"$tmp/e"; check "flag with a value" 2 $?
expect "flag with a value is named" "$tmp/e" "option '--json' takes no value"
finish
