#!/usr/bin/env bash
# Builds the agent as committed at REV into OUT the way REV's Dockerfile does (OUT/dist/ and
# OUT/Dockerfile, whose ENTRYPOINT and ENV the benchmark uses), optionally with the changes of some commits undone,
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
# shellcheck disable=SC2046 # tsconfig.build.json only exists before the bundle
git -C "$root" archive "$rev" src scripts Dockerfile package.json tsconfig.json \
  $(git -C "$root" ls-tree --name-only "$rev" tsconfig.build.json) | tar -x -C "$out"
ln -s "$root/node_modules" "$out/node_modules"
cd "$out"
for commit in "$@"; do
  git -C "$root" show --format= "$commit" -- src scripts Dockerfile | git apply -R -
done
if [ -f scripts/bundle.ts ]; then
  node scripts/bundle.ts > "$out/build.log" 2>&1 || { cat "$out/build.log" >&2; exit 1; }
else
  node "$root/node_modules/typescript/bin/tsc" -p tsconfig.build.json > "$out/build.log" 2>&1 || {
    cat "$out/build.log" >&2
    exit 1
  }
  cp src/contract/openapi.json dist/contract/openapi.json
fi
echo "built $out from $rev${1:+ without $*} ($(grep '^ENTRYPOINT' Dockerfile))"
