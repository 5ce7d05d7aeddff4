#!/usr/bin/env bash
# Consumer test (npm run test:consumer; CI runs it after npm test): packs the
# package, installs the tarball with a plain `npm install` into a temporary
# project outside the repo, and checks it as a user would meet it:
#   (a) a strict TypeScript consumer type-checks (strict, NodeNext, no skipLibCheck);
#   (b) a plain JavaScript ESM consumer stores, reads and replicates blocks
#       between two stores on 127.0.0.1 (gateways off, nothing beyond loopback);
#   (c) `npx chainstore --help` and `npx chainstore version` run from the install;
#   (d) the examples (examples/*.ts, which import `chainstore`) run against it;
# Prints the tarball size, the install footprint and the browser-only packages a
# plain install brings (helia depends on @helia/libp2p, whose default transports
# pull in WebRTC and, through its peer dependency, react-native); exits non-zero
# if (a), (b) or (c) fails.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
# Node 24 from the `node` devDependency (npm run puts it first on PATH too)
export PATH="$repo/node_modules/.bin:$PATH"
# a plain install: no legacy-peer-deps from any npmrc the caller may have
export npm_config_legacy_peer_deps=false
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
npm install --no-audit --no-fund --loglevel=error "$tarball"
footprint="$(du -sh node_modules | cut -f1)"
footprint_mb="$(du -sm node_modules | cut -f1)"
packages="$(npm ls --all --parseable 2>/dev/null | tail -n +2 | sort -u | wc -l)"
browser=""
for unwanted in react-native react-native-webrtc @libp2p/webrtc @libp2p/websockets node-datachannel @helia/libp2p; do
  if [ -e "node_modules/$unwanted" ]; then browser="$browser $unwanted"; fi
done

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
got="$(npx --no-install chainstore version)"
[ "$got" = "$want" ] || { echo "chainstore version printed '$got', expected '$want'" >&2; exit 1; }
[ "$(npx --no-install chainstore --version)" = "$want" ]
echo "chainstore version: $got"

step "(d) the examples against the installed package"
for example in examples/*.ts; do
  echo "$example"
  timeout 120 node "$example" > /dev/null
done

step "figures"
printf 'tarball       %s bytes (%s KiB), %s files\n' "$tar_bytes" "$(( (tar_bytes + 1023) / 1024 ))" "$tar_files"
printf 'install       node_modules %s (%s MB), %s packages\n' "$footprint" "$footprint_mb" "$packages"
printf 'browser-only  %s\n' "${browser:- none}"
if [ -n "$browser" ]; then printf '              (through: %s)\n' "$(npm explain react-native 2>/dev/null | grep -m1 -o 'helia@[^ ]*' || echo '?')"; fi
echo "consumer test: ok"
