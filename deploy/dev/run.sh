#!/usr/bin/env bash
# `make run`: the whole system on this machine, with a demo operator to try it.
#
#   services up → database → release build → migrate → seed demo → start command-api,
#   projector, query-api in the background → wait until ready → print how to use it.
#
# Logs, pid files and the generated secrets live in .run/. Running it again stops the
# services it started before (only after the new build succeeded). `make stop` stops them.
#
# Environment (all optional): MR_DATABASE_URL, MR_COMMAND_HTTP_ADDR, MR_QUERY_HTTP_ADDR,
# MR_CONSOLE_ADDR (the web console's nginx, default 127.0.0.1:8088; off: none), MR_MASTER_KEY_ID, RUST_LOG, and anything in .run/dev.env; MR_READY_TIMEOUT (seconds to wait
# for the services, default 90).
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Seconds to wait for /health/ready of both APIs after starting them.
READY_TIMEOUT="${MR_READY_TIMEOUT:-90}"
[[ "$READY_TIMEOUT" =~ ^[0-9]+$ ]] || die "MR_READY_TIMEOUT must be a whole number of seconds"

bash "$MR_ROOT/deploy/dev/ensure-services.sh"

# The web console: nginx installed and the console built when deploy/console/dist is missing.
# Without them the APIs still run; the console is skipped with a warning.
export MR_CONSOLE_ADDR="${MR_CONSOLE_ADDR:-127.0.0.1:8088}"
console_built=0
if [ "$MR_CONSOLE_ADDR" != off ]; then
    if bash "$MR_ROOT/deploy/dev/ensure-web.sh" && bash "$MR_ROOT/deploy/console/build.sh" --if-missing; then
        console_built=1
    else
        warn "the web console will not be served (see above); MR_CONSOLE_ADDR=off skips it quietly"
    fi
fi

# Configuration: generated secrets, then defaults for everything the environment leaves unset.
# shellcheck source=/dev/null
. "$(bash "$MR_ROOT/deploy/dev/env.sh")"
export MR_DATABASE_URL="${MR_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/mrledger}"
export MR_COMMAND_HTTP_ADDR="${MR_COMMAND_HTTP_ADDR:-127.0.0.1:8080}"
export MR_QUERY_HTTP_ADDR="${MR_QUERY_HTTP_ADDR:-127.0.0.1:8081}"
export MR_QUERY_GRPC_ADDR="${MR_QUERY_GRPC_ADDR:-127.0.0.1:8091}"
export MR_COMMAND_GRPC_ADDR="${MR_COMMAND_GRPC_ADDR:-127.0.0.1:8092}"
export MR_MASTER_KEY_ID="${MR_MASTER_KEY_ID:-k1}"
export RUST_LOG="${RUST_LOG:-info}"
# projector and query-api name their log filter setting differently; RUST_LOG feeds all three.
export MR_LOG_FILTER="${MR_LOG_FILTER:-$RUST_LOG}"
export MR_QUERY_LOG="${MR_QUERY_LOG:-$RUST_LOG}"

# A listen address as a URL a client on this machine can call.
url_of() {
    local host="${1%:*}" port="${1##*:}"
    case "$host" in 0.0.0.0 | "" | "[::]") host=127.0.0.1 ;; esac
    printf 'http://%s:%s' "$host" "$port"
}
COMMAND_URL="$(url_of "$MR_COMMAND_HTTP_ADDR")"
QUERY_URL="$(url_of "$MR_QUERY_HTTP_ADDR")"

# --- database ---------------------------------------------------------------------------
db="$(db_name)"
[[ "$db" =~ ^[A-Za-z0-9_]+$ ]] || die "database name '$db' from MR_DATABASE_URL: use letters, digits and _ only"
if [ -z "$(psql_admin -Atc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
    log "creating database $db"
    psql_admin -c "CREATE DATABASE \"$db\""
fi

# --- build ------------------------------------------------------------------------------
log "cargo build --release --bins (target dir $CARGO_TARGET_DIR)"
(cd "$MR_ROOT" && cargo build --release --bins)
BIN="$CARGO_TARGET_DIR/release"
for name in "${MR_SERVICES[@]}"; do
    [ -x "$BIN/$name" ] || die "$BIN/$name was not built"
done

# The new build is good: stop what an earlier make run started before touching the schema.
mkdir -p "$MR_RUN_DIR"
stop_services

# Runs one short command of a binary, logging to .run/NAME.log; on failure shows the tail.
run_step() {
    local name=$1
    shift
    local logf="$MR_RUN_DIR/$name.log"
    if ! "$@" >"$logf" 2>&1 </dev/null; then
        tail -n 40 "$logf" >&2
        die "$name failed (full output: $logf)"
    fi
}

log "migrating database $db"
run_step migrate "$BIN/command-api" migrate

log "seeding the demo operator"
seed_err="$MR_RUN_DIR/seed-demo.log"
if ! seed_out="$("$BIN/command-api" seed-demo 2>"$seed_err" </dev/null)"; then
    tail -n 40 "$seed_err" >&2
    die "command-api seed-demo failed (full output: $seed_err)"
fi
# The contract is one JSON line on stdout; take the last line that looks like one.
demo="$(printf '%s\n' "$seed_out" | grep '^{' | tail -n 1 || true)"
printf '%s' "$demo" | jq -e '.operator_id and .key_id and .secret and .app_id and .site_id' >/dev/null 2>&1 ||
    die "seed-demo printed no usable JSON line; its stdout was: $seed_out (stderr: $seed_err)"
(umask 077 && printf '%s\n' "$demo" >"$MR_RUN_DIR/demo.json")
field() { printf '%s' "$demo" | jq -r --arg k "$1" '.[$k] // empty | tostring'; }

# --- start ------------------------------------------------------------------------------
port_in_use() {
    local host="${1%:*}" port="${1##*:}"
    case "$host" in 0.0.0.0 | "" | "[::]") host=127.0.0.1 ;; esac
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null
}
for addr in "$MR_COMMAND_HTTP_ADDR" "$MR_QUERY_HTTP_ADDR" "$MR_QUERY_GRPC_ADDR" "$MR_COMMAND_GRPC_ADDR" "$MR_CONSOLE_ADDR"; do
    [ "$addr" = off ] && continue
    if port_in_use "$addr"; then
        die "something that make run did not start already listens on $addr; stop it, or choose \
another address with MR_COMMAND_HTTP_ADDR / MR_QUERY_HTTP_ADDR / MR_QUERY_GRPC_ADDR / MR_COMMAND_GRPC_ADDR (off: no gRPC) / MR_CONSOLE_ADDR (off: no console)"
    fi
done

# start NAME ARGS...: runs $BIN/NAME in its own session, detached from this terminal.
start() { start_program "$1" "$BIN/$1" "${@:2}"; }

# start_program NAME PROGRAM ARGS...: the same for any program (nginx), logged as NAME.
start_program() {
    local name=$1 program=$2
    shift 2
    local logf pidf
    logf="$(log_file "$name")"
    pidf="$(pid_file "$name")"
    [ -f "$logf" ] && mv -f "$logf" "$logf.1"
    rm -f "$pidf"
    # The inner shell writes its own pid, then becomes the service (exec keeps the pid).
    # shellcheck disable=SC2016 # expanded by the inner bash
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' mr-start "$pidf" "$program" "$@" \
        >>"$logf" 2>&1 </dev/null &
    wait_for 5 test -s "$pidf" || die "$name did not start (see $logf)"
    log "started $name (pid $(cat "$pidf"), log $logf)"
}

# --- gateway simulator (development only) ---------------------------------------------------
# WeChat Pay and Alipay are played by gateway-sim with the dev keys of deploy/dev/gateway-keys;
# the command API is pointed at it unless MR_WECHAT_* / MR_ALIPAY_* say otherwise. If it does
# not come up, the system starts anyway (recharges then fail at the gateway call).
export MR_SIM_ADDR="${MR_SIM_ADDR:-127.0.0.1:8090}"
SIM_URL="$(url_of "$MR_SIM_ADDR")"
GATEWAY_KEYS="$MR_ROOT/deploy/dev/gateway-keys"
# dev_setting NAME VALUE: exports NAME, keeping a value already set in the environment.
dev_setting() {
    local name=$1 value=$2
    [ -n "${!name:-}" ] || printf -v "$name" '%s' "$value"
    export "${name?}"
}
dev_setting MR_WECHAT_BASE_URL "$SIM_URL"
dev_setting MR_WECHAT_APP_ID wxd930ea5d5a258f4f
dev_setting MR_WECHAT_MCH_ID 1900000109
dev_setting MR_WECHAT_MERCHANT_SERIAL \
    "$(openssl x509 -in "$GATEWAY_KEYS/wechat_merchant_cert.pem" -noout -serial | cut -d= -f2)"
dev_setting MR_WECHAT_MERCHANT_KEY "$GATEWAY_KEYS/wechat_merchant_key.pem"
dev_setting MR_WECHAT_PLATFORM_CERT "$GATEWAY_KEYS/wechat_platform_cert.pem"
dev_setting MR_WECHAT_API_V3_KEY mrledgerdevapiv3key0123456789abc
dev_setting MR_WECHAT_NOTIFY_URL "$COMMAND_URL/api/v1/payments/wechat/notify"
dev_setting MR_ALIPAY_GATEWAY_URL "$SIM_URL/gateway.do"
dev_setting MR_ALIPAY_APP_ID 2014072300007148
dev_setting MR_ALIPAY_APP_KEY "$GATEWAY_KEYS/alipay_app_key.pem"
dev_setting MR_ALIPAY_PUBLIC_KEY "$GATEWAY_KEYS/alipay_gateway_public.pem"
dev_setting MR_ALIPAY_NOTIFY_URL "$COMMAND_URL/api/v1/payments/alipay/notify"
# gateway-sim reads the same MR_WECHAT_APP_ID / _MCH_ID / _API_V3_KEY and MR_ALIPAY_APP_ID.
export MR_SIM_KEYS_DIR="${MR_SIM_KEYS_DIR:-$GATEWAY_KEYS}"

sim_ready() { [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$SIM_URL/sim/health" || true)" = 200 ]; }
sim_up=0
if [ ! -x "$BIN/gateway-sim" ]; then
    warn "$BIN/gateway-sim was not built: recharges will have no gateway"
elif port_in_use "$MR_SIM_ADDR"; then
    warn "something that make run did not start listens on $MR_SIM_ADDR: gateway-sim not started \
(choose another address with MR_SIM_ADDR)"
else
    start gateway-sim
    if wait_for 10 sim_ready; then
        sim_up=1
    else
        tail -n 20 "$(log_file gateway-sim)" >&2 2>/dev/null || true
        warn "gateway-sim did not answer on $SIM_URL/sim/health; going on without it"
        if sim_pid="$(service_pid gateway-sim)"; then kill -TERM "$sim_pid" 2>/dev/null || true; fi
    fi
fi

start command-api serve
start projector run
start query-api serve

# Prints the last lines of every service log.
show_logs() {
    local name
    for name in "${MR_SERVICES[@]}"; do
        printf '\n--- last lines of %s ---\n' "$(log_file "$name")" >&2
        tail -n 25 "$(log_file "$name")" >&2 2>/dev/null || true
    done
}

# HTTP status of an API's readiness check ("000": no answer).
ready_status() { curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$1/health/ready" || true; }
ready() { [ "$(ready_status "$1")" = 200 ]; }
log "waiting up to ${READY_TIMEOUT}s for $COMMAND_URL/health/ready and $QUERY_URL/health/ready"
up=0
for ((t = 0; t < READY_TIMEOUT; t++)); do
    for name in "${MR_SERVICES[@]}"; do
        if ! service_pid "$name" >/dev/null; then
            show_logs
            stop_services
            die "$name exited during start-up (log: $(log_file "$name"))"
        fi
    done
    if ready "$COMMAND_URL" && ready "$QUERY_URL"; then
        up=1
        break
    fi
    sleep 1
done
if [ "$up" -ne 1 ]; then
    status="$COMMAND_URL/health/ready → HTTP $(ready_status "$COMMAND_URL"), $QUERY_URL/health/ready → HTTP $(ready_status "$QUERY_URL")"
    show_logs
    stop_services
    die "the APIs were not ready within ${READY_TIMEOUT}s ($status); services stopped, logs in $MR_RUN_DIR/"
fi

# --- web console (nginx) ----------------------------------------------------------------------
# nginx serves deploy/console/dist and proxies each API route to its service, from the template
# deploy/nginx/console.conf.template (docs/OPERATIONS.md, "Web console").
console_line="not served (MR_CONSOLE_ADDR=off or see the warnings above)"
if [ "$console_built" -eq 1 ]; then
    nginx_dir="$MR_RUN_DIR/nginx"
    mkdir -p "$nginx_dir"
    # host:port of a listen address, for an upstream on this machine.
    upstream() { local u; u="$(url_of "$1")"; printf '%s' "${u#http://}"; }
    sed -e "s#@LISTEN@#$MR_CONSOLE_ADDR#g" -e "s#@ROOT@#$MR_ROOT/deploy/console/dist#g" \
        -e "s#@COMMAND@#$(upstream "$MR_COMMAND_HTTP_ADDR")#g" -e "s#@QUERY@#$(upstream "$MR_QUERY_HTTP_ADDR")#g" \
        -e "s#@RUN_DIR@#$nginx_dir#g" "$MR_ROOT/deploy/nginx/console.conf.template" >"$nginx_dir/nginx.conf"
    nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
    CONSOLE_URL="$(url_of "$MR_CONSOLE_ADDR")"
    start_program nginx "$nginx_bin" -p "$nginx_dir" -c "$nginx_dir/nginx.conf" -e "$nginx_dir/nginx-error.log"
    console_up() { [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$CONSOLE_URL/" || true)" = 200 ]; }
    if wait_for 10 console_up; then
        console_line="$CONSOLE_URL   (log in as the demo operator or the admin below; nginx log $nginx_dir/)"
    else
        tail -n 20 "$nginx_dir/nginx-error.log" >&2 2>/dev/null || true
        warn "nginx did not serve $CONSOLE_URL; the APIs run without the console"
    fi
fi

# --- tell the user -------------------------------------------------------------------------
# Shell-quotes a value for the snippets: bare when safe, else escaped (q) or single-quoted (sq).
q() { printf '%q' "$1"; }
sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
operator_id="$(field operator_id)"
key_id="$(field key_id)"
secret="$(field secret)"
app_id="$(field app_id)"
site_id="$(field site_id)"
admin_user="$(field admin_username)"
admin_user="${admin_user:-$MR_BOOTSTRAP_ADMIN_USERNAME}"
admin_password="$(field admin_password)"
admin_password="${admin_password:-$MR_BOOTSTRAP_ADMIN_PASSWORD}"
operator_user="$(field operator_username)"
operator_password="$(field operator_password)"
operator_password="${operator_password:-(not set: MR_DEMO_OPERATOR_PASSWORD)}"
# The helper script aims at 127.0.0.1:8080 unless told otherwise.
url_prefix=""
[ "$COMMAND_URL" = http://127.0.0.1:8080 ] || url_prefix="MR_COMMAND_URL=$COMMAND_URL "
login_body="$(jq -cn --arg u "$admin_user" --arg p "$admin_password" '{username: $u, password: $p}')"

cat <<EOF

MR Ledger is running.

  web console  $console_line
  command API  $COMMAND_URL   (health: $COMMAND_URL/health, $COMMAND_URL/health/ready)
  query API    $QUERY_URL   (health: $QUERY_URL/health, $QUERY_URL/health/ready)
  gRPC         $MR_COMMAND_GRPC_ADDR   (headset calls, mrledger.headset.v1.HeadsetService)
               $MR_QUERY_GRPC_ADDR   (auditors' event stream, mrledger.audit.v1.EventStore)
  projector    running (pid $(service_pid projector))
  logs         $MR_RUN_DIR/{command-api,projector,query-api}.log   (make logs; make stop)

Admin login     username $admin_user   password $admin_password

Demo operator   ${operator_user:-demo_arcade}   (balance $(field balance))
  login         username ${operator_user:-demo_arcade}   password $operator_password   (POST $COMMAND_URL/api/v1/auth/operator/login)
  operator id   $operator_id
  key id        $key_id
  secret        $secret
  app id        $app_id   ($(field app_name))
  site id       $site_id

Authorize a 4-player game with the helper script:

  ${url_prefix}bash deploy/dev/authorize.sh $(q "$key_id") $(q "$secret") $(q "$app_id") $(q "$site_id") $(q "$operator_id") 4

or by hand (paste into bash):

KEY_ID=$(q "$key_id") SECRET=$(q "$secret")
OPERATOR_ID=$(q "$operator_id") APP_ID=$(q "$app_id") SITE_ID=$(q "$site_id")
MS=\$(date +%s%3N); TS=\$((MS / 1000))
SESSION_ID="\${OPERATOR_ID}_\${MS}_\$(openssl rand -hex 8)"
BODY="{\"app_id\":\"\$APP_ID\",\"site_id\":\"\$SITE_ID\",\"player_count\":4}"
SIG=\$(printf '%s\nPOST\n%s\n%s' "\$TS" /api/v1/auth/game/authorize "\$BODY" | openssl dgst -sha256 -hmac "\$SECRET" -binary | base64)
curl -sS -X POST $COMMAND_URL/api/v1/auth/game/authorize -H 'Content-Type: application/json' -H "X-API-Key: \$KEY_ID" -H "X-Timestamp: \$TS" -H "X-Signature: \$SIG" -H "X-Session-ID: \$SESSION_ID" --data-binary "\$BODY"; echo

EOF

if [ "$sim_up" -eq 1 ]; then
    op_login="$(jq -cn --arg u "${operator_user:-demo_arcade}" --arg p "$operator_password" '{username: $u, password: $p}')"
    cat <<EOF
Recharge through the gateway simulator (WeChat Pay + Alipay at $SIM_URL, log $(log_file gateway-sim)):

TOKEN=\$(curl -sS -X POST $COMMAND_URL/api/v1/auth/operator/login -H 'Content-Type: application/json' -d $(sq "$op_login") | jq -r .data.access_token)
curl -sS -X POST $COMMAND_URL/api/v1/operator/recharges -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' -d '{"channel":"wechat","amount":"100.00"}' | jq
OUT_TRADE_NO=\$(curl -sS $SIM_URL/sim/orders | jq -r '[.[] | select(.state == "not_paid")] | last | .out_trade_no')
curl -sS -X POST $SIM_URL/sim/orders/\$OUT_TRADE_NO/pay -H 'Content-Type: application/json' -d '{"callback":"now"}' | jq '.deliveries'

  pay options: {"callback": "now" | "late(5000)" | "never" | "duplicate(10)" | "forged", "amount": "99.00", "fail": true}
  orders and callback attempts: curl -sS $SIM_URL/sim/orders | jq
  failing gateway queries:      curl -sS -X POST $SIM_URL/sim/faults -H 'Content-Type: application/json' -d '{"query_failures": 3}'

EOF
else
    echo "gateway-sim is not running: recharges have no gateway (see the warnings above)."
    echo
fi

cat <<EOF
Log in as admin and read the operator's balance from the query API (the read side may lag by the projector's lag):

curl -sS $QUERY_URL/api/v1/admin/operators/$operator_id -H "Authorization: Bearer \$(curl -sS -X POST $COMMAND_URL/api/v1/auth/staff/login -H 'Content-Type: application/json' -d $(sq "$login_body") | jq -r .data.access_token)" | jq '.data | {balance, status}'

EOF
