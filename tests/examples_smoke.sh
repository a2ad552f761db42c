#!/usr/bin/env bash
# The hello example, as a user runs it: server and client over TCP on 127.0.0.1.
#   tests/examples_smoke.sh DIR_WITH_hello_server_AND_hello_client
set -euo pipefail
bin=$1
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server_out=$(mktemp)
trap 'kill "$server" 2>/dev/null || true; rm -f "$server_out"' EXIT

timeout 30 "$bin/hello_server" tcp "$port" >"$server_out" &
server=$!
client_out=$(timeout 30 "$bin/hello_client" tcp 127.0.0.1 "$port")
wait "$server"

echo "server: $(cat "$server_out")"
echo "client: $client_out"
grep -q " says: hello$" "$server_out"
[[ $client_out == *" says: world" ]]
# A wrong protocol name is a clear error and exit code 1.
status=0
error=$("$bin/hello_client" udp 2>&1) || status=$?
[[ $status == 1 && $error == *"unknown protocol 'udp' (valid: tcp, mqtt, grpc, inproc)"* ]]
