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
                         "demo 2026: alliance agent phone numbers"]}]}
JSON
AS_A=(--identity bank-a.identity --peers peers.json --peer "Bank B")
AS_B=(--identity bank-b.identity --peers peers.json --peer "Bank A")

exchange() {
    local list=$1 kind=$2 column=$3 outcome=$4 purpose=$5
    local name=${list%.*}
    local columnA=() columnB=()
    if [ -n "$column" ]; then columnA=(--column "$column"); columnB=(--column "$column"); fi
    echo
    echo "== $list: purpose \"$purpose\", outcome $outcome"
    (cd "$A" && "$PSI" initiate --kind "$kind" --input "$list" "${columnA[@]}" --purpose "$purpose" --outcome "$outcome" \
        "${AS_A[@]}" --state "$name.a.state" --out "$name.1-initiator-blinded.spsi")
    transfer "$A/$name.1-initiator-blinded.spsi" "$B"
    (cd "$B" && "$PSI" respond --kind "$kind" --input "$list" "${columnB[@]}" --purpose "$purpose" --outcome "$outcome" \
        "${AS_B[@]}" --request "$name.1-initiator-blinded.spsi" --state "$name.b.state" \
        --out-blinded "$name.2-responder-blinded.spsi" --out-reblinded "$name.2-initiator-reblinded.spsi")
    transfer "$B/$name.2-responder-blinded.spsi" "$A"
    transfer "$B/$name.2-initiator-reblinded.spsi" "$A"
    (cd "$A" && "$PSI" finish "${AS_A[@]}" --state "$name.a.state" --responder-set "$name.2-responder-blinded.spsi" \
        --reblinded "$name.2-initiator-reblinded.spsi" --reply "$name.3-responder-reblinded.spsi" --output "$name.matches.csv")
    if [ "$outcome" != initiator-learns ]; then
        transfer "$A/$name.3-responder-reblinded.spsi" "$B"
        (cd "$B" && "$PSI" finish "${AS_B[@]}" --state "$name.b.state" --reblinded "$name.3-responder-reblinded.spsi" \
            --output "$name.matches.csv")
    fi
}

exchange agent-phones.csv phone agent_phone both-learn "demo 2026: suspected agent phone numbers"
exchange forged-documents.txt document "" both-learn "demo 2026: forged hardship documents"

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
    --kind phone --input agent-phones.csv --column agent_phone --purpose "$HUB_PURPOSE" --state member.state --out member-request.spsi)
transfer "$B/member-request.spsi" "$A"
(cd "$A" && "$PSI" hub respond --key hub.key --identity bank-a.identity --peers peers.json --kind phone --purpose "$HUB_PURPOSE" \
    --request member-request.spsi --out hub-response.spsi)
transfer "$A/hub-response.spsi" "$B"
(cd "$B" && "$PSI" member finish --identity bank-b.identity --peers peers.json --hub "Bank A" --state member.state \
    --setup hub-setup.spsi --response hub-response.spsi --output agent-phones.unbalanced.matches.csv)
echo "  bank B's first matches, with the hub's labels (categories, reporter count):"
head -n 6 "$B/agent-phones.unbalanced.matches.csv" | tr -d '\r' | sed 's/^/    /'
reported_twice=$(tail -n +2 "$B/agent-phones.unbalanced.matches.csv" | tr -d '\r' | grep -c ',2,,$' || true)
echo "  $reported_twice of bank B's matches were reported by two alliance members"

# Check what each bank learned against the answer key.
check() {
    local bank=$1 list=$2 key=$3
    local got
    # The canonical form is the third column (values hold no comma; label columns may follow).
    got=$(tail -n +2 "$bank/$list.matches.csv" | tr -d '\r' | awk -F, '{print $3}' | sort)
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
echo "demo passed: see $A/*.matches.csv and $B/*.matches.csv"
