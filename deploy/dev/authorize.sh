#!/usr/bin/env bash
# Authorizes one game the way a headset server does (docs: HEADSET-PROTOCOL, "Signing").
#
#   deploy/dev/authorize.sh KEY_ID SECRET APP_ID SITE_ID OPERATOR_ID PLAYERS
#
# Prints the response body on stdout and the HTTP status on stderr; exits 1 unless 2xx.
# MR_COMMAND_URL selects the command API (default http://127.0.0.1:8080). Set MR_SESSION_ID
# to repeat a session (an idempotent replay charges nothing).
set -euo pipefail

if [ "$#" -ne 6 ]; then
    echo "usage: $0 KEY_ID SECRET APP_ID SITE_ID OPERATOR_ID PLAYERS" >&2
    exit 2
fi
key_id=$1 secret=$2 app_id=$3 site_id=$4 operator_id=$5 players=$6
[[ "$players" =~ ^[0-9]+$ ]] || { echo "PLAYERS must be a whole number, got '$players'" >&2; exit 2; }
for tool in curl openssl base64; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$tool is required" >&2; exit 2; }
done

base_url="${MR_COMMAND_URL:-http://127.0.0.1:8080}"
path=/api/v1/auth/game/authorize

# One clock reading for both: X-Timestamp in seconds, the session id in 13-digit millis.
millis="$(date +%s%3N)"
ts=$((millis / 1000))
# {operator_id}_{13-digit unix millis}_{16 alphanumerics}
session_id="${MR_SESSION_ID:-${operator_id}_${millis}_$(openssl rand -hex 8)}"
body="{\"app_id\":\"$app_id\",\"site_id\":\"$site_id\",\"player_count\":$players}"
# Canonical string: "{ts}\nPOST\n{path}\n{body}", signed with HMAC-SHA256, standard base64.
signature="$(printf '%s\nPOST\n%s\n%s' "$ts" "$path" "$body" |
    openssl dgst -sha256 -hmac "$secret" -binary | base64)"

echo "session id: $session_id" >&2
response="$(mktemp)"
trap 'rm -f "$response"' EXIT
status="$(curl -sS -o "$response" -w '%{http_code}' -X POST "$base_url$path" \
    -H 'Content-Type: application/json' \
    -H "X-API-Key: $key_id" \
    -H "X-Timestamp: $ts" \
    -H "X-Signature: $signature" \
    -H "X-Session-ID: $session_id" \
    --data-binary "$body")"
cat "$response"
echo
echo "HTTP $status" >&2
[[ "$status" == 2* ]]
