#!/usr/bin/env bash
# psi exchange over loopback TLS against the file flow of the same lists, in the same run
# (issue 19's goal: ratio <= 1.10). Usage: scripts/exchange-bench.sh [ITEMS_PER_SIDE] [ROUNDS]
# Wall time of the whole exchange, both sides' processes included; the best of ROUNDS each.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}; ROUNDS=${2:-3}
PSI=${PSI:-$(swift build -c release --show-bin-path)/psi}
[ -x "$PSI" ] || swift build -c release --product psi >/dev/null
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
A="$W/a"; B="$W/b"; mkdir -p "$A" "$B"
key() { "$PSI" identity show --identity "$1" --json | sed -E 's/.*"public_key":"([0-9a-f]{64})".*/\1/'; }
"$PSI" identity create --identity "$A/bank.identity" >/dev/null; "$PSI" identity create --identity "$B/bank.identity" >/dev/null
echo "{\"peers\": [{\"name\": \"Bank B\", \"publicKey\": \"$(key "$B/bank.identity")\"}]}" > "$A/peers.json"
echo "{\"peers\": [{\"name\": \"Bank A\", \"publicKey\": \"$(key "$A/bank.identity")\"}]}" > "$B/peers.json"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -keyout "$B/tls.key" -out "$B/tls.crt" \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
seq 1 "$N" | awk '{printf "+86139%08d\n", $1}' > "$A/list.txt"
seq $((N / 2)) $((N + N / 2)) | awk '{printf "+86139%08d\n", $1}' > "$B/list.txt"
K=(--identity bank.identity --peers peers.json)  # finish reads the purpose from its state
P=(--purpose "bench" "${K[@]}")
now() { date +%s%N; }
files() {
    rm -f "$A"/*.spsi "$B"/*.spsi "$A"/f.* "$B"/f.*
    (cd "$A" && "$PSI" initiate --input list.txt --kind phone "${P[@]}" --peer "Bank B" --state f.state --out 1.spsi 2>/dev/null)
    cp "$A/1.spsi" "$B/"
    (cd "$B" && "$PSI" respond --input list.txt --kind phone "${P[@]}" --peer "Bank A" --initiator-blinded 1.spsi --state f.state \
        --out-responder-blinded 2a.spsi --out-initiator-reblinded 2b.spsi 2>/dev/null)
    cp "$B/2a.spsi" "$B/2b.spsi" "$A/"
    (cd "$A" && "$PSI" finish --state f.state --responder-blinded 2a.spsi --initiator-reblinded 2b.spsi --out-responder-reblinded 3.spsi \
        --input list.txt --kind phone "${K[@]}" --peer "Bank B" --out f.matches.csv 2>/dev/null)
    cp "$A/3.spsi" "$B/"
    (cd "$B" && "$PSI" finish --state f.state --responder-reblinded 3.spsi --input list.txt --kind phone "${K[@]}" --peer "Bank A" \
        --out f.matches.csv 2>/dev/null)
}
network() {
    rm -rf "$A"/n.* "$B"/n.* "$A/work" "$B/work"
    local port=$(( 20000 + RANDOM % 20000 ))
    (cd "$B" && "$PSI" exchange --listen 127.0.0.1:$port --tls-certificate tls.crt --tls-key tls.key --input list.txt --kind phone \
        "${P[@]}" --peer "Bank A" --state n.state --work work --out n.matches.csv 2>/dev/null) &
    local b=$!
    (cd "$A" && "$PSI" exchange --connect 127.0.0.1:$port --tls-ca "$B/tls.crt" --retries 10 --input list.txt --kind phone \
        "${P[@]}" --peer "Bank B" --state n.state --work work --out n.matches.csv 2>/dev/null)
    wait $b
}
best_f=; best_n=
for round in $(seq 1 "$ROUNDS"); do
    t=$(now); files; f=$(( ($(now) - t) / 1000000 ))
    t=$(now); network; n=$(( ($(now) - t) / 1000000 ))
    cmp <(sort "$A/f.matches.csv") <(sort "$A/n.matches.csv") >/dev/null || { echo "results differ" >&2; exit 1; }
    echo "round $round: file flow ${f} ms, psi exchange ${n} ms"
    [ -z "$best_f" ] || [ "$f" -lt "$best_f" ] && best_f=$f
    [ -z "$best_n" ] || [ "$n" -lt "$best_n" ] && best_n=$n
done
awk -v n="$N" -v f="$best_f" -v x="$best_n" 'BEGIN { printf "%d items a side: file flow %d ms, psi exchange over loopback TLS %d ms, ratio %.3f (goal <= 1.10)\n", n, f, x, x / f }'
