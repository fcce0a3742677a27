#!/usr/bin/env bash
# Builds the agent as committed at REV into OUT (OUT/dist/cli.js and OUT/Dockerfile, whose
# ENTRYPOINT flags the benchmark uses), optionally with the changes of some commits undone,
# for `npm run bench -- inventory -- --variant NAME=OUT`:
#
#   test/bench/inventory/build-variant.sh /tmp/inv/after HEAD
#   test/bench/inventory/build-variant.sh /tmp/inv/before HEAD <commit> [<commit>...]
#
# The second form is "the same code without those commits" (their diffs reverse-applied):
# both variants share everything else, so a back-to-back comparison measures only them.
# Uncommitted work in the tree is left out.
set -euo pipefail
out=$1
rev=$2
shift 2
root=$(cd "$(dirname "$0")/../../.." && pwd)
rm -rf "$out"
mkdir -p "$out"
git -C "$root" archive "$rev" src manifests Dockerfile package.json tsconfig.json tsconfig.build.json |
  tar -x -C "$out"
ln -s "$root/node_modules" "$out/node_modules"
cd "$out"
for commit in "$@"; do
  git -C "$root" show --format= "$commit" -- src Dockerfile | git apply -R -
done
node "$root/node_modules/typescript/bin/tsc" -p tsconfig.build.json > "$out/build.log" 2>&1 || {
  cat "$out/build.log" >&2
  exit 1
}
cp src/contract/openapi.json dist/contract/openapi.json
echo "built $out from $rev${1:+ without $*} ($(grep '^ENTRYPOINT' Dockerfile))"
