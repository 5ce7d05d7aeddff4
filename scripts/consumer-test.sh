#!/usr/bin/env bash
# Consumer test (npm run test:consumer; CI runs it after npm test): packs the
# package, installs the tarball with a plain `npm install` into a temporary
# project outside the repo, and checks it as a user would meet it:
#   (a) a strict TypeScript consumer type-checks (strict, NodeNext, no skipLibCheck);
#   (b) a plain JavaScript ESM consumer stores, reads and replicates blocks
#       between two stores on 127.0.0.1 (gateways off, nothing beyond loopback);
#   (c) `npx chainstore --help` and `npx chainstore version` run from the install;
#   (d) the examples (examples/*.ts, which import `chainstore`) run against it;
# Prints the tarball size, the install footprint, the time taken and the
# browser-only packages a plain install brings (helia depends on @helia/libp2p,
# whose default transports pull in WebRTC and, through its peer dependency,
# react-native: reported, not failed on); exits non-zero if (a)-(d) fails or the
# install was not a strict-peer one (legacy-peer-deps on).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
# Node 24 from the `node` devDependency (npm run puts it first on PATH too)
export PATH="$repo/node_modules/.bin:$PATH"
# a plain install: no legacy-peer-deps from any npmrc the caller may have (npm run
# exports the repo's .npmrc settings as npm_config_* to this script)
export npm_config_legacy_peer_deps=false
started=$SECONDS
work="$(mktemp -d "${TMPDIR:-/tmp}/chainstore-consumer-XXXXXX")"
trap 'rm -rf "$work"' EXIT
step () { printf '\n== %s\n' "$*"; }

step "npm pack (prepack builds dist/)"
tarball="$(cd "$repo" && npm pack --silent --pack-destination "$work" | tail -n 1)"
tarball="$work/$tarball"
tar_bytes="$(stat -c %s "$tarball")"
tar_files="$(tar -tzf "$tarball" | wc -l)"
if tar -tzf "$tarball" | grep -E '^package/(src|test|bench|fuzz)/|results/|fixtures/' ; then
  echo "the tarball ships sources, tests, bench results or fixtures" >&2; exit 1
fi

step "npm install the tarball into $work/app"
mkdir "$work/app"
cp "$repo/scripts/consumer/index.ts" "$repo/scripts/consumer/tsconfig.json" "$repo/scripts/consumer/replicate.mjs" "$work/app/"
mkdir "$work/app/examples" && cp "$repo"/examples/*.ts "$work/app/examples/"
cd "$work/app"
printf '{ "name": "chainstore-consumer", "private": true, "type": "module" }\n' > package.json
# the project's own npmrc: peers resolved and installed as npm does by default
printf 'legacy-peer-deps=false\n' > .npmrc
lpd="$(npm config get legacy-peer-deps)"
[ "$lpd" = "false" ] || { echo "legacy-peer-deps is '$lpd' in $work/app; the install would not be a plain one" >&2; exit 1; }
install_started=$SECONDS
npm install --no-audit --no-fund --loglevel=error --no-legacy-peer-deps "$tarball"
install_seconds=$(( SECONDS - install_started ))
footprint="$(du -sh node_modules | cut -f1)"
footprint_mb="$(du -sm node_modules | cut -f1)"
tree="$(npm ls --all --parseable 2>/dev/null | tail -n +2 | sort -u)"
packages="$(printf '%s\n' "$tree" | wc -l)"
# browser-only transports and what they bring, wherever they sit in the tree
browser="$(printf '%s\n' "$tree" | sed 's#.*/node_modules/##' | sort -u \
  | grep -E '^(react|react-native.*|@react-native/.*|hermes-.*|@libp2p/(webrtc|websockets|webtransport)|node-datachannel|@node-datachannel/.*)$' || true)"
browser_count="$(printf '%s' "$browser" | grep -c . || true)"
browser_mb=0
if [ -n "$browser" ]; then
  browser_mb="$(printf '%s\n' "$tree" | grep -E '/node_modules/(react|react-native[^/]*|@react-native/[^/]+|hermes-[^/]+|@libp2p/(webrtc|websockets|webtransport)|node-datachannel|@node-datachannel/[^/]+)$' | xargs du -smc | tail -n 1 | cut -f1)"
fi

step "(a) strict TypeScript consumer (strict, NodeNext, skipLibCheck false)"
# @types/node for the consumer's own `types: ["node"]`; installed after the footprint is measured
npm install --no-audit --no-fund --loglevel=error --no-save "@types/node@$(node -p "require('$repo/node_modules/@types/node/package.json').version")"
node "$repo/node_modules/typescript/bin/tsc" -p tsconfig.json
echo "type-check: ok"

step "(b) JavaScript consumer: two stores on 127.0.0.1 replicate"
timeout 120 node replicate.mjs

step "(c) the installed CLI"
npx --no-install chainstore --help > help.txt
grep -q 'Usage: chainstore' help.txt
want="$(node -p "require('$repo/package.json').version")"
got="$(npx --no-install chainstore --json version)"
[ "$(node -p "JSON.parse(process.argv[1]).version" "$got")" = "$want" ] || { echo "chainstore version printed '$got', expected version '$want'" >&2; exit 1; }
# the build wrote the commit it ran on into dist/build-info.json
node -e "const c = JSON.parse(process.argv[1]).commit; if (!/^[0-9a-f]{40}\$/.test(c)) { console.error('no commit in the installed build: ' + c); process.exit(1) }" "$got"
[ "$(npx --no-install chainstore --version)" = "$want" ]
echo "chainstore version: $got"

step "(d) the examples against the installed package"
for example in examples/*.ts; do
  echo "$example"
  timeout 120 node "$example" > /dev/null
done

step "figures"
printf 'tarball       %s bytes (%s KiB), %s files\n' "$tar_bytes" "$(( (tar_bytes + 1023) / 1024 ))" "$tar_files"
printf 'install       node_modules %s (%s MB), %s packages, plain npm install in %s s\n' "$footprint" "$footprint_mb" "$packages" "$install_seconds"
if [ -n "$browser" ]; then
  printf 'browser-only  %s packages, %s MB: %s\n' "$browser_count" "$browser_mb" "$(printf '%s' "$browser" | tr '\n' ' ')"
  # each link's direct dependents, from npm explain's first level
  for pkg in react-native react-native-webrtc @libp2p/webrtc @helia/libp2p; do
    [ -e "node_modules/$pkg" ] || continue
    from="$(npm explain "$pkg" 2>/dev/null | grep -E '^  [^ ].* from ' | sed -E 's/.* from ([^ ]+)$/\1/; s/(.)@[^@]*$/\1/' | sort -u | paste -sd, - || true)"
    printf '              %s <- %s\n' "$pkg" "${from:-?}"
  done
else
  printf 'browser-only  none\n'
fi
printf 'time          %s s in all\n' "$(( SECONDS - started ))"
echo "consumer test: ok"
