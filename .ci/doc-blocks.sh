#!/usr/bin/env bash
# Runs the shell examples of the given Markdown files as a reader would paste them: each file in a fresh
# scratch copy of the repository (its `target` a link to the build cache), one shell per file, in order.
# The copy is always made at the same path, so that cargo reuses what it built there before.
#
# Only marked blocks run (an HTML comment on the line before the fence, invisible when rendered):
#   <!-- ci: run -->             the next ```sh block runs in the file's shell
#   <!-- ci: background URL -->  the next ```sh block (a server in its own terminal) runs in the background;
#                                the shell waits until URL answers
#   <!-- ci: stop -->            stop the background blocks started so far (their whole process group)
#   <!-- ci-check                shell lines up to the closing `-->` run at that point: hidden assertions
#   ...                          and waits a reader does by eye (`expect_json`, `wait_for` are defined)
#   -->
# Usage: .ci/doc-blocks.sh README.md docs/jit.md ...   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
scratch="${TMPDIR:-/tmp}/ssf-doc-examples"
status=0

script_of() { # the shell script of one Markdown file, on stdout
  cat <<'PRELUDE'
set -euo pipefail
background=()
stop_background() {
  for pid in ${background[@]+"${background[@]}"}; do
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  background=()
}
trap 'stop_background; kill $(jobs -p) 2>/dev/null || true' EXIT
trap 'exit 143' TERM INT
wait_for() { # URL: until it answers 2xx, at most 60 s
  for _ in $(seq 1 300); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done
  echo "doc-blocks: $1 did not answer within 60 s" >&2; return 1
}
expect_json() { # JQ-FILTER: stdin must make the filter true
  local input; input=$(cat)
  jq -e "$1" >/dev/null <<<"$input" || { echo "doc-blocks: expected $1 in: $input" >&2; return 1; }
}
PRELUDE
  awk -v file="$1" '
    function flush_block() {
      if (mode == "run") { printf "echo \"--- %s:%d\" >&2\n%s", file, start, block }
      else if (mode == "background") {
        n++
        printf "echo \"--- %s:%d (background)\" >&2\n", file, start
        printf "cat > .doc-bg-%d.sh <<'"'"'DOC_BLOCK_END'"'"'\n%sDOC_BLOCK_END\n", n, block
        printf "setsid bash .doc-bg-%d.sh > .doc-bg-%d.log 2>&1 &\nbackground+=($!)\n", n, n
        printf "wait_for %s || { cat .doc-bg-%d.log >&2; exit 1; }\n", url, n
      }
    }
    in_check { if ($0 ~ /^-->[ \t]*$/) in_check = 0; else print; next }
    in_block { if ($0 ~ /^```[ \t]*$/) { in_block = 0; flush_block(); mode = "" } else block = block $0 "\n"; next }
    /^<!-- ci: run -->[ \t]*$/ { mode = "run"; next }
    /^<!-- ci: background [^ ]+ -->[ \t]*$/ { mode = "background"; url = $4; next }
    /^<!-- ci: stop -->[ \t]*$/ { print "stop_background"; next }
    /^<!-- ci-check[ \t]*$/ { in_check = 1; next }
    /^```sh[ \t]*$/ { if (mode != "") { in_block = 1; block = ""; start = NR + 1 }; next }
    /^```/ { if (mode != "") { printf "doc-blocks: %s:%d: a ci marker must precede a ```sh block\n", file, NR > "/dev/stderr"; exit 2 } }
    END { if (in_block || in_check) { printf "doc-blocks: %s: unclosed block\n", file > "/dev/stderr"; exit 2 } }
  ' "$1"
}

stop_leftovers() { # DIR: whatever still runs in it (a server a failed example left behind)
  local dir
  for proc in /proc/[0-9]*; do
    dir=$(readlink "$proc/cwd" 2>/dev/null) || continue
    case "$dir" in "$1" | "$1"/*) kill -TERM "${proc#/proc/}" 2>/dev/null || true ;; esac
  done
}

for doc in "$@"; do
  rm -rf "$scratch" && mkdir -p "$scratch"
  # What a clone has, plus files not committed yet (when run by hand before a commit).
  git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' file; do [ ! -e "$file" ] || printf '%s\0' "$file"; done \
    | tar --null -T - -cf - | tar -xf - -C "$scratch"
  ln -s "$target" "$scratch/target"
  script_of "$doc" > "$scratch/.doc-script.sh"
  blocks=$(grep -c '^echo "--- ' "$scratch/.doc-script.sh" || true)
  echo "==> $doc: $blocks block(s) in $scratch"
  set +e
  (cd "$scratch" && CARGO_TARGET_DIR="$target" timeout 900 bash .doc-script.sh)
  rc=$?
  set -e
  stop_leftovers "$scratch"
  if [ "$rc" -ne 0 ]; then
    rm -rf "$scratch.failed-$(basename "$doc" .md)"
    mv "$scratch" "$scratch.failed-$(basename "$doc" .md)"
    echo "FAILED: $doc (exit $rc); its scratch directory stays for inspection: $scratch.failed-$(basename "$doc" .md)" >&2
    status=1
  else
    echo "ok: $doc"
  fi
done
rm -rf "$scratch"
exit "$status"
