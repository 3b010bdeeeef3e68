# lib.sh - helpers for integration scenarios (sourced). Needs DG_WORLD, DG_WORLD_CMD.
set -euo pipefail
fails=0
checks=0
inworld() { "$DG_WORLD_CMD" exec "$DG_WORLD" "$@" || true; }  # output is what the checks read
pass() { checks=$((checks + 1)); printf 'ok   %s\n' "$*"; }
fail() { checks=$((checks + 1)); fails=$((fails + 1)); printf 'FAIL %s\n' "$*"; }
expect_match() { # expect_match DESCRIPTION REGEX TEXT
	if printf '%s' "$3" | grep -Eq -- "$2"; then pass "$1"; else fail "$1: got: $(printf '%s' "$3" | tail -3 | tr '\n' ' '), want /$2/"; fi
}
expect_no_match() {
	if printf '%s' "$3" | grep -Eq -- "$2"; then fail "$1: got /$2/ in: $(printf '%s' "$3" | grep -E -- "$2" | head -2 | tr '\n' ' ')"; else pass "$1"; fi
}
finish() {
	printf '%d passed, %d failed\n' $((checks - fails)) "$fails"
	[ "$fails" -eq 0 ]
}
