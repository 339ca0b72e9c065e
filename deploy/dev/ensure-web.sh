#!/usr/bin/env bash
# Makes sure what the web console needs is installed: Debian's nginx (make run serves the
# console and proxies both APIs with it, deploy/nginx/), and with --browser also Debian's
# chromium and a CJK font (the console's end-to-end test drives the browser headless and its
# screenshots must show the Chinese text). Installs with apt when missing; starts nothing (make
# run starts nginx as a process of its own, never the system service). Idempotent.
#
#   bash deploy/dev/ensure-web.sh [--browser]
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

browser=0
case "${1:-}" in
    "") ;;
    --browser) browser=1 ;;
    *) die "usage: $0 [--browser]" ;;
esac

# Debian's packages keep nginx in /usr/sbin, which a non-root PATH may lack.
nginx_found() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }
# A font with CJK glyphs (without one, headless chromium draws Chinese as boxes).
cjk_font_found() { fc-list :lang=zh 2>/dev/null | grep -q .; }

missing=()
nginx_found || missing+=(nginx)
if [ "$browser" -eq 1 ]; then
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    cjk_font_found || missing+=(fonts-wqy-microhei)
fi
command -v node >/dev/null 2>&1 || die "node is not installed: the console needs Node.js 20 (and npm)"

if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi
if [ "$browser" -eq 1 ]; then
    log "web tools ready: nginx, chromium, a CJK font"
else
    log "web tools ready: nginx"
fi
