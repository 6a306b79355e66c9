#!/usr/bin/env bash
# Re-fetch the chat page's JavaScript libraries from npm into src/aichatflow/server/static/vendor/
# (a DEVELOPER step: tests and the server never download anything; the files are committed).
#
# Each library is `npm pack`ed at the pinned version into a temporary directory and its own
# release build is copied unmodified, with its licence, then the sha256 of every copied file is
# printed for static/vendor/README.md. To move a library to a new version, change its pin here,
# run this script, update the README's versions and hashes, and run tests/browser.
set -euo pipefail

MARKED=18.3.0
DOMPURIFY=3.5.0
HIGHLIGHT=11.12.0

root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/src/aichatflow/server/static/vendor"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

fetch() { # fetch <package@version> <dir>: npm pack, then unpack into <dir>
    (cd "$tmp" && npm pack --silent "$1" >"$tmp/name")
    mkdir -p "$2"
    tar xzf "$tmp/$(cat "$tmp/name")" -C "$2" --strip-components=1
}

fetch "marked@$MARKED" "$tmp/marked"
fetch "dompurify@$DOMPURIFY" "$tmp/dompurify"
fetch "@highlightjs/cdn-assets@$HIGHLIGHT" "$tmp/hljs"

rm -rf "$vendor/marked" "$vendor/dompurify" "$vendor/highlight"
mkdir -p "$vendor/marked" "$vendor/dompurify" "$vendor/highlight"
cp "$tmp/marked/lib/marked.esm.js" "$tmp/marked/LICENSE" "$vendor/marked/"
# purify.es.mjs is saved as .js: every server maps .js to text/javascript, which a module needs.
cp "$tmp/dompurify/dist/purify.es.mjs" "$vendor/dompurify/purify.es.js"
cp "$tmp/dompurify/LICENSE" "$tmp/dompurify/LICENSE-MPL" "$vendor/dompurify/"
cp "$tmp/hljs/es/highlight.min.js" "$tmp/hljs/LICENSE" "$vendor/highlight/"

cd "$vendor"
sha256sum marked/marked.esm.js dompurify/purify.es.js highlight/highlight.min.js
