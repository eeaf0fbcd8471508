#!/usr/bin/env bash
# The package as users get it: `npm pack` (which builds dist/ afresh, `prepack`), then
# `npm i -g --prefix EMPTY ./engine-backup-*.tgz` with each npm named below (taken from the
# registry with npx), and the installed `engine` run from outside the clone with a bare
# environment: doctor, init, backup, restore, check --read-data, and the restored tree compared
# byte for byte. Then the launcher is shown finding the Node of its install prefix with no node
# on the PATH (what a systemd unit sees with a Node from nvm).
#
#   bash test/package/install-check.sh [NPM_SPEC...]     default: npm@11 npm@12
#
# Needs the npm registry (the tarball's dependencies are resolved as a user's install would,
# from the registry, not from this clone's lockfile). Exit 0 when every step passed.
set -euo pipefail
clone=$(cd "$(dirname "$0")/../.." && pwd)
specs=("$@")
[ ${#specs[@]} -gt 0 ] || specs=(npm@11 npm@12)

work=$(mktemp -d "${TMPDIR:-/tmp}/engine-install-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
node_bin=$(command -v node)

step() { printf '\n== %s\n' "$*"; }

step "npm pack (prepack builds dist/ afresh)"
(cd "$clone" && npm pack --silent --pack-destination "$work" >/dev/null)
tgz=$(ls "$work"/engine-backup-*.tgz)
tar -tzf "$tgz" > "$work/contents"
echo "$(wc -l < "$work/contents") files in $(basename "$tgz") ($(du -k "$tgz" | cut -f1) KiB)"
for must in package/bin/engine package/bin/engine.js package/dist/src/cli/main.js package/dist/workers/index.js package/LICENSE; do
  grep -qx "$must" "$work/contents" || { echo "FAIL: $must is not in the package" >&2; exit 1; }
done
if grep -E '\.test\.js$|\.ts$|^package/(test|bench|src)/|\.map$' "$work/contents" | grep -v '\.d\.ts$' >/dev/null; then
  echo "FAIL: the package ships tests, sources or source maps:" >&2
  grep -E '\.test\.js$|\.ts$|^package/(test|bench|src)/|\.map$' "$work/contents" | head >&2
  exit 1
fi

# A small tree: text, random data, an empty file, a symlink, nested folders.
tree=$work/tree
mkdir -p "$tree/etc/app" "$tree/data/deep/er"
for i in $(seq 1 50); do echo "line $i of a config file" >> "$tree/etc/app/app.conf"; done
head -c 3000000 /dev/urandom > "$tree/data/random.bin"
cp "$tree/data/random.bin" "$tree/data/deep/er/duplicate.bin"
: > "$tree/data/empty"
ln -s ../etc/app/app.conf "$tree/data/link"

# Tools the launcher uses, and nothing else: no node on this PATH.
tools=$work/tools
mkdir -p "$tools"
for t in readlink dirname basename; do ln -s "$(command -v $t)" "$tools/$t"; done

for spec in "${specs[@]}"; do
  name=${spec//[@.]/-}
  prefix=$work/prefix-$name
  step "$spec: npm i -g --prefix EMPTY $(basename "$tgz")"
  mkdir -p "$prefix"
  (cd "$work" && npx -y -p "$spec" -- npm --version && npx -y -p "$spec" -- npm i -g --no-audit --no-fund --loglevel=error --prefix "$prefix" "$tgz")
  engine=$prefix/bin/engine
  [ -x "$engine" ] || { echo "FAIL: $spec did not install $engine" >&2; exit 1; }
  home=$work/home-$name
  mkdir -p "$home"
  # A bare environment outside the clone: only node's folder and the base system on PATH.
  run() { (cd "$home" && env -i HOME="$home" PATH="$(dirname "$node_bin"):/usr/bin:/bin" ENGINE_PASSWORD=install-check-not-secret "$engine" "$@"); }
  step "$spec: engine doctor"
  run doctor | tee "$work/doctor-$name"
  for p in blake3 xchacha20poly1305 zstd argon2id; do
    grep -q "$p" "$work/doctor-$name" || { echo "FAIL: engine doctor does not name $p" >&2; exit 1; }
  done
  repo=$work/repo-$name
  step "$spec: init, backup, restore, check --read-data"
  run init --repo "$repo"
  run backup --repo "$repo" "$tree"
  run restore latest --repo "$repo" --target "$work/restored-$name"
  # The snapshot holds the tree under its absolute path, and the restore puts it there below the target.
  diff -r --no-dereference "$tree" "$work/restored-$name$tree"
  echo "restored tree identical"
  run check --read-data --repo "$repo"
done

step "launcher: the Node of the install prefix, with no node on the PATH"
prefix=$work/prefix-${specs[0]//[@.]/-}
ln -s "$node_bin" "$prefix/bin/node"
out=$(cd "$work" && env -i HOME="$work" PATH="$tools" "$prefix/bin/engine" --version)
echo "engine --version with PATH=$tools (no node): $out"
rm "$prefix/bin/node"
if (cd "$work" && env -i HOME="$work" PATH="$tools" "$prefix/bin/engine" --version) 2>"$work/no-node.err"; then
  echo "FAIL: engine started with no node anywhere" >&2; exit 1
fi
grep -q "cannot find Node.js" "$work/no-node.err" || { echo "FAIL: no clear error without node:" >&2; cat "$work/no-node.err" >&2; exit 1; }
echo "without any node: $(cat "$work/no-node.err")"

step "install check passed (${specs[*]})"
