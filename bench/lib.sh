# Shared by the bench scripts (sourced, not run): a release build of cordon, a scratch directory
# removed on exit with the processes started in it, loopback ports, and the proxy benches'
# upstream (nginx serving 1 KiB) and signed manifest.

# Build cordon in release mode; `$cordon` is the binary.
bench_build() {
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cordon/target}"
    cargo build --release --locked -q -p cordon
    cordon="$CARGO_TARGET_DIR/release/cordon"
}

# `$work`: a scratch directory (readable by nginx's unprivileged workers). On exit, every pid
# in `pids` is stopped and the directory removed.
bench_work() {
    work="$(mktemp -d)"
    chmod 755 "$work"
    pids=()
    trap bench_cleanup EXIT
}
bench_cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Wait until something listens on PORT, for at most SECONDS (default 10).
wait_port() {
    local tries=$(( ${2:-10} * 20 ))
    for _ in $(seq "$tries"); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    return 1
}

# nginx, one worker, serving `/1k` (1 KiB) on 127.0.0.1:PORT with keep-alive, started under
# the launcher given after the port (e.g. `taskset -c 0`), if any.
start_upstream() {
    local port="$1"; shift
    mkdir -p "$work/www" "$work/nginx"
    head -c 1024 /dev/zero | tr '\0' x > "$work/www/1k"
    cat > "$work/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $work/nginx/pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$port; root $work/www; }
}
CONF
    "$@" nginx -c "$work/nginx/nginx.conf" & pids+=($!)
}

# In `$work`: a signing key, a trust store trusting it, and `m.signed.json`, a manifest that
# grants http://127.0.0.1:PORT.
sign_manifest_for() {
    (
        cd "$work"
        "$cordon" keys generate --out key >/dev/null
        "$cordon" trust init --out trust.json >/dev/null
        "$cordon" trust add --trust trust.json --key key.pub --role manifest-signer >/dev/null
        echo "{\"agentName\":\"bench\",\"version\":\"1.0.0\",\"networkScopes\":[\"http://127.0.0.1:$1\"]}" > m.json
        "$cordon" manifest sign m.json --key key.key --allow-lint-errors >/dev/null 2>&1
    )
}
