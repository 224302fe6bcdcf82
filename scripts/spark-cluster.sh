#!/usr/bin/env bash
# A standalone Spark cluster on 127.0.0.1 for settle's Spark tests and measurements: a master and
# two workers from the pip `pyspark` package, run by the machine's Java 17.
#
#   scripts/spark-cluster.sh setup        the venv target/py with scripts/spark-requirements.txt
#   scripts/spark-cluster.sh start        master and workers on free ports; waits until both
#                                         workers are registered, prints the master URL
#   scripts/spark-cluster.sh stop         stops every process the start began (TERM, then KILL)
#   scripts/spark-cluster.sh status       the master URL and the workers' state
#   scripts/spark-cluster.sh kill-worker N   SIGKILL worker N with its executors (a lost node)
#
# Everything lives under target/spark (SPARK_CLUSTER_DIR): logs/, one work dir per worker,
# local/ for shuffle files, and cluster.env with SPARK_MASTER_URL and the pids. Each daemon runs
# in its own process group, so that stopping or killing a worker also ends the executor JVM and
# the Python workers it started. A start that fails stops what it had started.
# Environment: SPARK_WORKER_CORES (1), SPARK_WORKER_MEMORY (2g), SPARK_START_TIMEOUT (90 s).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
dir="${SPARK_CLUSTER_DIR:-$root/target/spark}"
py="${SETTLE_PY:-$root/target/py}"
env_file="$dir/cluster.env"
workers=2

spark_home() {
    "$py/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))'
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Stop the process group led by the pid in FILE: TERM, up to 10 s, then KILL.
stop_group() {
    local file="$1" pid
    [ -f "$file" ] || return 0
    pid="$(cat "$file")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

# Start a daemon in its own session (and so its own process group); its pid into FILE.
daemon() {
    local name="$1"
    shift
    setsid "$@" >"$dir/logs/$name.out" 2>&1 </dev/null &
    echo $! >"$dir/$name.pid"
}

stop() {
    for i in $(seq 1 $workers); do stop_group "$dir/worker$i.pid"; done
    stop_group "$dir/master.pid"
    rm -f "$env_file"
}

# The number of workers the master lists as ALIVE (its web UI's JSON), or 0 when it does not
# answer yet.
alive_workers() {
    python3 - "$1" <<'EOF'
import json, sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/json/", timeout=2) as r:
        state = json.load(r)
    print(sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE"))
except OSError:
    print(0)
EOF
}

start() {
    if [ -f "$env_file" ]; then
        echo "a cluster is running (see $env_file): stop it first" >&2
        exit 2
    fi
    command -v java >/dev/null || { echo "java is not installed (openjdk-17-jre-headless)" >&2; exit 2; }
    [ -x "$py/bin/python" ] || { echo "no venv at $py: run $0 setup" >&2; exit 2; }
    local home master_port ui_port
    home="$(spark_home)"
    mkdir -p "$dir/logs" "$dir/local"
    trap 'stop; exit 1' ERR INT TERM
    export SPARK_HOME="$home" SPARK_LOCAL_IP=127.0.0.1 SPARK_LOCAL_DIRS="$dir/local"
    export SPARK_LOG_DIR="$dir/logs" SPARK_NO_DAEMONIZE=1
    master_port="$(free_port)"
    ui_port="$(free_port)"
    daemon master "$home/bin/spark-class" org.apache.spark.deploy.master.Master \
        --host 127.0.0.1 --port "$master_port" --webui-port "$ui_port"
    for i in $(seq 1 $workers); do
        mkdir -p "$dir/work$i"
        daemon "worker$i" "$home/bin/spark-class" org.apache.spark.deploy.worker.Worker \
            --host 127.0.0.1 --port "$(free_port)" --webui-port "$(free_port)" \
            --cores "${SPARK_WORKER_CORES:-1}" --memory "${SPARK_WORKER_MEMORY:-2g}" \
            --work-dir "$dir/work$i" "spark://127.0.0.1:$master_port"
    done
    local deadline=$((SECONDS + ${SPARK_START_TIMEOUT:-90}))
    until [ "$(alive_workers "$ui_port")" -ge $workers ]; do
        for name in master $(seq -f 'worker%g' 1 $workers); do
            if ! kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then
                echo "the Spark $name exited; its log:" >&2
                tail -n 30 "$dir/logs/$name.out" >&2
                false
            fi
        done
        if [ $SECONDS -ge $deadline ]; then
            echo "the Spark workers did not register within ${SPARK_START_TIMEOUT:-90} s" >&2
            tail -n 30 "$dir/logs/master.out" >&2
            false
        fi
        sleep 0.5
    done
    {
        echo "SPARK_MASTER_URL=spark://127.0.0.1:$master_port"
        echo "SPARK_MASTER_UI=http://127.0.0.1:$ui_port"
        echo "SPARK_HOME=$home"
        for name in master $(seq -f 'worker%g' 1 $workers); do
            echo "SPARK_$(echo "$name" | tr a-z A-Z)_PID=$(cat "$dir/$name.pid")"
        done
    } >"$env_file"
    trap - ERR INT TERM
    echo "spark://127.0.0.1:$master_port"
}

case "${1:-}" in
setup)
    [ -x "$py/bin/python" ] || python3 -m venv "$py"
    "$py/bin/pip" install --quiet --disable-pip-version-check -r scripts/spark-requirements.txt
    ;;
start) start ;;
stop) stop ;;
status)
    [ -f "$env_file" ] || { echo "no cluster running"; exit 1; }
    cat "$env_file"
    # shellcheck disable=SC1090
    . "$env_file"
    echo "alive workers: $(alive_workers "${SPARK_MASTER_UI##*:}")"
    ;;
kill-worker)
    n="${2:?which worker: 1 or 2}"
    pid="$(cat "$dir/worker$n.pid")"
    kill -KILL -- "-$pid"
    echo "killed worker $n (process group $pid)"
    ;;
*)
    echo "usage: $0 setup|start|stop|status|kill-worker N" >&2
    exit 2
    ;;
esac
