# Sourced by with-mariadb.sh and with-postgres.sh: what starting a throwaway server takes.

# Prints a port on 127.0.0.1 nobody listens on (a random pick, checked, 20 tries).
free_port() {
  local port
  for _ in $(seq 20); do
    port=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  echo "no free port found" >&2
  return 1
}

# Waits (at most 30 s) until LOG has a line matching PATTERN, while process PID runs; exits 1
# with the log when the server dies or never says it is ready. NAME prefixes the message.
wait_ready() {
  local name=$1 log=$2 pattern=$3 pid=$4
  for _ in $(seq 300); do
    if grep -q "$pattern" "$log" 2>/dev/null; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "$name: the server did not start; its log:" >&2
  cat "$log" >&2
  exit 1
}
