#!/usr/bin/env bash
# Two banks find the suspected agent phone numbers and forged-document fingerprints they both
# hold, without showing each other anything else. Each bank works in its own folder; the only
# things that cross between them are the .spsi message files, copied as a secure file transfer would.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-libsodium.sh

swift build --product psi >/dev/null
PSI="$(swift build --show-bin-path)/psi"

RUN=demo-run
rm -rf "$RUN"
mkdir -p "$RUN/bank-a" "$RUN/bank-b" "$RUN/answer-key"
A="$RUN/bank-a"; B="$RUN/bank-b"
"$PSI" sample --bank-a "$A" --bank-b "$B" --answer "$RUN/answer-key" "$@"
# Bank B's case system exports GB18030 (GBK) with Chinese column names, as Chinese Excel does.
iconv -f UTF-8 -t GB18030 "$B/agent-phones.csv" > "$B/agent-phones.csv.tmp" && mv "$B/agent-phones.csv.tmp" "$B/agent-phones.csv"
echo "  bank B's export is GB18030: $(head -1 "$B/agent-phones.csv" | iconv -f GB18030 -t UTF-8 | tr -d '\r')"

# Copies a message file from one bank's folder to the other's (the only shared channel).
transfer() { cp "$1" "$2/"; echo "  transfer $(basename "$1") → $(basename "$2")"; }

# Each bank creates its signing identity once and sends only its public key to the other, which
# lists it in its peers file (in practice: compare the fingerprints by telephone).
echo "== identities: each bank creates one and lists the other's public key in its peers file"
public_key() { "$PSI" identity show --identity "$1" --json | sed -E 's/.*"public_key":"([0-9a-f]{64})".*/\1/'; }
"$PSI" identity create --identity "$A/bank-a.identity"
"$PSI" identity create --identity "$B/bank-b.identity"
KEY_A=$(public_key "$A/bank-a.identity"); KEY_B=$(public_key "$B/bank-b.identity")
cat > "$A/peers.json" <<JSON
{"peers": [{"name": "Bank B", "publicKey": "$KEY_B"}]}
JSON
cat > "$B/peers.json" <<JSON
{"peers": [{"name": "Bank A", "publicKey": "$KEY_A",
            "purposes": ["demo 2026: suspected agent phone numbers", "demo 2026: forged hardship documents",
                         "demo 2026: alliance agent phone numbers", "demo 2026: daily agent phone numbers"]}]}
JSON
AS_A=(--identity bank-a.identity --peers peers.json --peer "Bank B")
AS_B=(--identity bank-b.identity --peers peers.json --peer "Bank A")

# exchange LIST OUTCOME PURPOSE [agreement options] -- A's reading options -- B's reading options -- A's kept columns -- B's kept columns
exchange() {
    local list=$1 outcome=$2 purpose=$3; shift 3
    local agreement=() readA=() readB=() keepA=() keepB=()
    while [ "$1" != -- ]; do agreement+=("$1"); shift; done; shift
    while [ "$1" != -- ]; do readA+=("$1"); shift; done; shift
    while [ "$1" != -- ]; do readB+=("$1"); shift; done; shift
    while [ "$1" != -- ]; do keepA+=("$1"); shift; done; shift
    keepB=("$@")
    local name=${list%.*}
    echo
    echo "== $list: purpose \"$purpose\", outcome $outcome"
    (cd "$A" && "$PSI" initiate --input "$list" "${readA[@]}" --purpose "$purpose" --outcome "$outcome" "${agreement[@]}" \
        "${AS_A[@]}" --state "$name.a.state" --out "$name.1-initiator-blinded.spsi")
    transfer "$A/$name.1-initiator-blinded.spsi" "$B"
    (cd "$B" && "$PSI" respond --input "$list" "${readB[@]}" --purpose "$purpose" --outcome "$outcome" "${agreement[@]}" \
        "${AS_B[@]}" --initiator-blinded "$name.1-initiator-blinded.spsi" --state "$name.b.state" \
        --out-responder-blinded "$name.2-responder-blinded.spsi" --out-initiator-reblinded "$name.2-initiator-reblinded.spsi")
    transfer "$B/$name.2-responder-blinded.spsi" "$A"
    transfer "$B/$name.2-initiator-reblinded.spsi" "$A"
    # Each finish reads its list again to join every row of a matched number with its case columns.
    (cd "$A" && "$PSI" finish "${AS_A[@]}" --state "$name.a.state" --responder-blinded "$name.2-responder-blinded.spsi" \
        --initiator-reblinded "$name.2-initiator-reblinded.spsi" --out-responder-reblinded "$name.3-responder-reblinded.spsi" \
        --input "$list" "${readA[@]}" "${keepA[@]}" --out "$name.matches.csv")
    if [ "$outcome" != initiator-learns ]; then
        transfer "$A/$name.3-responder-reblinded.spsi" "$B"
        (cd "$B" && "$PSI" finish "${AS_B[@]}" --state "$name.b.state" --responder-reblinded "$name.3-responder-reblinded.spsi" \
            --input "$list" "${readB[@]}" "${keepB[@]}" --out "$name.matches.csv")
    fi
}

exchange agent-phones.csv both-learn "demo 2026: suspected agent phone numbers" \
    -- --kind phone --column agent_phone \
    -- --kind phone --column 代理电话 --input-encoding gb18030 \
    -- --keep case_id,risk_tag \
    -- --keep 案件编号,风险等级
# Verifiable mode: bank A proves its step 3, so it cannot move matches between bank B's records.
exchange forged-documents.txt both-learn "demo 2026: forged hardship documents" --verifiable -- --kind document -- --kind document -- --

echo
echo "== the joined matches: every case row of a shared number, ready to join back to each case system"
echo "  bank A ($A/agent-phones.matches.csv):"; head -4 "$A/agent-phones.matches.csv" | tr -d '\r' | sed 's/^/    /'
echo "  bank B ($B/agent-phones.matches.csv):"; head -4 "$B/agent-phones.matches.csv" | tr -d '\r' | sed 's/^/    /'
awk -F, 'NR > 1 { n[$4]++; cases[$4] = cases[$4] " " $5 } END { for (k in n) if (n[k] > 1) { print "  one number, several cases (bank A): " k ":" cases[k]; exit } }' \
    "$A/agent-phones.matches.csv"

# Unbalanced PSI: bank A acts as an alliance hub and publishes its phone list once; bank B queries it.
echo
echo "== unbalanced PSI: bank A publishes its agent phone list as a hub setup; bank B queries it"
# The hub's pool aggregates its members' reports: bank A's list, and a report from a third
# alliance member (bank C, here the first rows of bank A's export). Each number gets an encrypted
# label (its categories, from the note column, and how many members reported it) that only a
# member holding the number can read.
HUB_PURPOSE="demo 2026: alliance agent phone numbers"
head -n 41 "$A/agent-phones.csv" > "$A/bank-c-report.csv"
(cd "$A" && "$PSI" hub keygen --key hub.key && "$PSI" hub setup --key hub.key --identity bank-a.identity --kind phone \
    --input agent-phones.csv --column agent_phone --contributor "Bank A" --contribution "Bank C=bank-c-report.csv" \
    --category-column note --purpose "$HUB_PURPOSE" --out hub-setup.spsi)
transfer "$A/hub-setup.spsi" "$B"
(cd "$B" && "$PSI" member request --identity bank-b.identity --peers peers.json --hub "Bank A" --setup hub-setup.spsi \
    --kind phone --input agent-phones.csv --column 代理电话 --input-encoding gb18030 --purpose "$HUB_PURPOSE" \
    --state member.state --out member-request.spsi)
transfer "$B/member-request.spsi" "$A"
(cd "$A" && "$PSI" hub respond --key hub.key --identity bank-a.identity --peers peers.json --kind phone --purpose "$HUB_PURPOSE" \
    --request member-request.spsi --out hub-response.spsi)
transfer "$A/hub-response.spsi" "$B"
(cd "$B" && "$PSI" member finish --identity bank-b.identity --peers peers.json --hub "Bank A" --state member.state \
    --setup hub-setup.spsi --response hub-response.spsi \
    --input agent-phones.csv --kind phone --column 代理电话 --input-encoding gb18030 --keep 案件编号 \
    --out agent-phones.unbalanced.matches.csv)
echo "  bank B's first matches, with the hub's labels (categories, reporter count):"
head -n 6 "$B/agent-phones.unbalanced.matches.csv" | tr -d '\r' | sed 's/^/    /'
reported_twice=$(tail -n +2 "$B/agent-phones.unbalanced.matches.csv" | tr -d '\r' | grep -c ',2,,$' || true)
echo "  $reported_twice of bank B's matching rows were reported by two alliance members"

# Check what each bank learned against the answer key.
check() {
    local bank=$1 list=$2 key=$3
    local got
    # Column 4 is the canonical form (line,column,value,canonical,kept columns…); a number shared by
    # several cases has a row for each.
    got=$(tail -n +2 "$bank/$list.matches.csv" | tr -d '\r' | awk -F, '{print $4}' | sort -u)
    if [ "$got" == "$(sort "$key")" ]; then
        echo "  $(basename "$bank") learned exactly the $(wc -l < "$key" | tr -d ' ') shared entries of $list"
    else
        echo "  MISMATCH: $(basename "$bank") $list differs from the answer key" >&2
        exit 1
    fi
}
echo
echo "== checking against the answer key"
check "$A" agent-phones "$RUN/answer-key/phones.txt"
check "$B" agent-phones "$RUN/answer-key/phones.txt"
check "$A" forged-documents "$RUN/answer-key/documents.txt"
check "$B" forged-documents "$RUN/answer-key/documents.txt"
check "$B" agent-phones.unbalanced "$RUN/answer-key/phones.txt"

# A compliance officer checks each bank's signed receipt and that both describe the same run.
echo
echo "== verifying the signed run receipts"
for name in agent-phones forged-documents; do
    "$PSI" receipt verify "$A/$name.a.state.receipt.json" --peer-receipt "$B/$name.b.state.receipt.json" --peers "$A/peers.json"
done
"$PSI" receipt verify "$B/member.state.receipt.json" --peer-receipt "$A/hub-response.spsi.receipt.json" --peers "$B/peers.json"

# Daily runs: the same two banks keep a relationship and each day send only what changed.
echo
echo "== daily relationship: day 1 is a full exchange, day 2 sends only the day's changes"
DAILY="demo 2026: daily agent phone numbers"
daily_list() { seq "$1" "$2" | awk '{printf "+86139%08d\n", $1}'; }
# Each day's run goes over one direct TLS connection (psi exchange): bank B listens, bank A
# connects; both authenticate with their identities, and the messages travel as frames.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -keyout "$B/daily-tls.key" -out "$B/daily-tls.crt" \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
cp "$B/daily-tls.crt" "$A/bank-b-tls.crt"
DAILY_PORT=$(( 20000 + RANDOM % 20000 ))
daily_run() {
    local day=$1
    local start=$(date +%s%N)
    (cd "$B" && "$PSI" exchange --incremental --listen "127.0.0.1:$DAILY_PORT" --tls-certificate daily-tls.crt --tls-key daily-tls.key \
        --accept-timeout 60 --input daily.txt --kind phone --purpose "$DAILY" "${AS_B[@]}" --state daily.b.rel --work "daily.day$day" \
        --keep-messages --out daily.matches.txt --changes daily.changes.txt 2>"daily.day$day.log") &
    local responder=$!
    (cd "$A" && "$PSI" exchange --incremental --connect "127.0.0.1:$DAILY_PORT" --tls-ca bank-b-tls.crt --retries 5 \
        --input daily.txt --kind phone --purpose "$DAILY" "${AS_A[@]}" --state daily.a.rel --work "daily.day$day" \
        --keep-messages --out daily.matches.txt --changes daily.changes.txt 2>"daily.day$day.log") \
        || { cat "$A/daily.day$day.log" >&2; kill "$responder" 2>/dev/null; exit 1; }
    wait "$responder" || { cat "$B/daily.day$day.log" >&2; exit 1; }
    local ms=$(( ($(date +%s%N) - start) / 1000000 ))
    local w="$A/daily.day$day"
    local bytes=$(( $(stat -c%s "$w/1.spsi") + $(stat -c%s "$w/2.spsi") + $(stat -c%s "$w/3.spsi") ))
    local expected
    expected=$(comm -12 <(sort "$A/daily.txt") <(sort "$B/daily.txt"))
    for bank in "$A" "$B"; do
        if [ "$(sort "$bank/daily.matches.txt")" != "$expected" ]; then echo "  MISMATCH: $(basename "$bank") day $day" >&2; exit 1; fi
    done
    echo "  day $day over TLS (psi exchange --listen / --connect): both banks hold exactly the $(wc -l < "$A/daily.matches.txt" | tr -d ' ') shared numbers; $bytes bytes of messages, ${ms} ms for the whole run"
    eval "DAY${day}_BYTES=$bytes; DAY${day}_MS=$ms"
}
daily_list 1 10000 > "$A/daily.txt"; daily_list 9001 19000 > "$B/daily.txt"
daily_run 1
# Day 2: each bank drops 100 numbers and adds 100 (some of bank A's new ones bank B already holds,
# and bank B drops one number they shared).
daily_list 101 10000 > "$A/daily.txt"; daily_list 15000 15099 >> "$A/daily.txt"
daily_list 9002 18900 > "$B/daily.txt"; daily_list 20000 20100 >> "$B/daily.txt"
daily_run 2
echo "  day 2's changes seen by bank A: $(sort "$A/daily.changes.txt" | uniq -c -w 4 | awk '{print $1, $2}' | tr '\n' ' ')"
awk -v b1="$DAY1_BYTES" -v b2="$DAY2_BYTES" -v t1="$DAY1_MS" -v t2="$DAY2_MS" 'BEGIN {
    printf "  day 2 cost %.0fx fewer wire bytes and %.1fx less time than day 1, the full exchange (most of day 2 is the two processes starting and connecting)\n", b1 / b2, t1 / (t2 > 0 ? t2 : 1) }'
# The same hub as a network service: bank A serves its setup over HTTPS (psi-hub serve); bank B
# and a fourth member, bank D, query it from their own systems (psi-hub query), each charged to
# its item budget in the service's ledger (SQLite here; PostgreSQL for replicas, Docs/deployment.md).
echo
echo "== the hub as an HTTPS service: bank A serves its setup on loopback; banks B and D query it"
scripts/ensure-service-deps.sh
swift build --product psi-hub >/dev/null
PSI_HUB="$(swift build --show-bin-path)/psi-hub"
S="$RUN/hub-service"
mkdir -p "$S/bank-d"
D="$S/bank-d"
"$PSI" identity create --identity "$D/bank-d.identity"
KEY_D=$(public_key "$D/bank-d.identity")
cat > "$S/members.json" <<JSON
{"peers": [{"name": "Bank B", "publicKey": "$KEY_B"}, {"name": "Bank D", "publicKey": "$KEY_D"}]}
JSON
cat > "$D/peers.json" <<JSON
{"peers": [{"name": "Alliance hub", "publicKey": "$KEY_A"}]}
JSON
# A throwaway self-signed certificate for 127.0.0.1 (a real hub's comes from the alliance's CA).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$S/tls.key" -out "$S/tls.crt" 2>/dev/null
chmod 600 "$S/tls.key"
cat > "$S/hub.toml" <<TOML
[server]
host = "127.0.0.1"
port = 0
certificate = "tls.crt"
private_key = "tls.key"

[hub]
key = "../bank-a/hub.key"
identity = "../bank-a/bank-a.identity"
peers = "members.json"
purpose = "$HUB_PURPOSE"
kind = "phone"
setup = "../bank-a/hub-setup.spsi"

[database]
sqlite = "ledger.sqlite"

[[budget]]
member = "Bank B"
items_per_day = 10000
items_per_month = 100000

[[budget]]
member = "Bank D"
items_per_day = 1000
items_per_month = 10000
TOML
"$PSI_HUB" serve --config "$S/hub.toml" > "$S/serve.out" 2> "$S/serve.log" &
HUB_PID=$!
trap 'kill -TERM "$HUB_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do grep -q "^listening on" "$S/serve.out" 2>/dev/null && break; sleep 0.2; done
HUB_URL=$(sed -n 's/^listening on //p' "$S/serve.out" | head -n 1)
[ -n "$HUB_URL" ] || { echo "the hub service did not start:" >&2; cat "$S/serve.log" >&2; exit 1; }
echo "  psi-hub serve: $HUB_URL (pid $HUB_PID)"
# Bank B's system exports UTF-8 for this job.
iconv -f GB18030 -t UTF-8 "$B/agent-phones.csv" > "$B/agent-phones.utf8.csv"
(cd "$B" && "$PSI_HUB" query --hub "$HUB_URL" --ca "../hub-service/tls.crt" --identity bank-b.identity --peers peers.json \
    --hub-name "Bank A" --kind phone --input agent-phones.utf8.csv --column 代理电话 --purpose "$HUB_PURPOSE" \
    --cache hub-cache --out agent-phones.service.matches.csv | sed 's/^/  bank B: /')
(cd "$D" && "$PSI_HUB" query --hub "$HUB_URL" --ca ../tls.crt --identity bank-d.identity --peers peers.json \
    --hub-name "Alliance hub" --kind phone --input ../../bank-a/bank-c-report.csv --column agent_phone --purpose "$HUB_PURPOSE" \
    --cache hub-cache --out service.matches.csv | sed 's/^/  bank D: /')
echo "  bank D's first matches:"
head -n 4 "$D/service.matches.csv" | tr -d '\r' | sed 's/^/    /'
"$PSI" receipt verify "$B/agent-phones.service.matches.csv.receipt.json" --peer-receipt "$B/agent-phones.service.matches.csv.hub-receipt.json" --peers "$B/peers.json"
"$PSI" receipt verify "$D/service.matches.csv.receipt.json" --peer-receipt "$D/service.matches.csv.hub-receipt.json" --peers "$D/peers.json"
check "$B" agent-phones.service "$RUN/answer-key/phones.txt"
kill -TERM "$HUB_PID"
wait "$HUB_PID" && echo "  the hub service stopped cleanly on SIGTERM (exit 0)"
trap - EXIT
echo "demo passed: see $A/*.matches.csv and $B/*.matches.csv"
