#!/usr/bin/env bash
# Whole-program throughput of `cordon dlp scan` next to Kingfisher and detect-secrets, on the same
# files in one run. Three corpora: `clean` (prose and code full of the words scanners key on —
# token, key, password, secret, card, ssn, @ — with no values), `dense` (a finding every ~100
# bytes: AWS keys, api_key assignments, Luhn-valid cards, e-mails, IBANs, SSNs), both written by
# the `corpus` example, and `code` (the Rust sources cargo downloaded into ~/.cargo/registry/src,
# concatenated: ordinary source code). Each scanner runs single-threaded on one file with its
# JSON report written to disk; times are hyperfine medians, and the findings column is what each
# tool reports (they deduplicate and scope differently: Kingfisher has no PII rules and pairs AWS
# key IDs with secrets; detect-secrets reports one finding per distinct secret and type).
# Also prints the start-up time of each tool (scan of a 6-byte file).
#
#   bench/dlp.sh [MIB [WORKDIR]]   # MIB per generated corpus (default 64); WORKDIR for the files
#
# Environment: CORDON, CORPUS (binaries; default "$CARGO_TARGET_DIR/release/{cordon,examples/corpus}",
# built with cargo when missing), KINGFISHER, DETECT_SECRETS (default: found on PATH, skipped when
# absent; `pip install kingfisher-bin detect-secrets`), CODE_MIB (code corpus size, default
# min(MIB, 40)), DS_MIB (detect-secrets is ~100x slower, so it and cordon get a DS_MIB prefix of
# each corpus as well; default 2), RUNS (default 3, after 1 warm-up; detect-secrets gets no
# warm-up). Kingfisher runs with `-n -j 1 --no-update-check`, detect-secrets with `-n`, both in a
# fresh network namespace when `unshare -n` works, so neither can reach the network.
# Installs hyperfine from Debian when missing. Everything is written under a temporary directory
# that is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

mib="${1:-64}"
workparent="${2:-${TMPDIR:-/tmp}}"
runs="${RUNS:-3}"
ds_mib="${DS_MIB:-2}"
code_mib="${CODE_MIB:-$((mib < 40 ? mib : 40))}"
target="${CARGO_TARGET_DIR:-$HOME/.cache/cordon/target}"
cordon="${CORDON:-$target/release/cordon}"
corpus="${CORPUS:-$target/release/examples/corpus}"

if [[ ! -x "$cordon" || ! -x "$corpus" ]]; then
    CARGO_TARGET_DIR="$target" cargo build --release --locked -p cordon --bin cordon
    CARGO_TARGET_DIR="$target" cargo build --release --locked -p cordon-dlp --example corpus
    cordon="$target/release/cordon"
    corpus="$target/release/examples/corpus"
fi
if ! command -v hyperfine >/dev/null; then
    apt-get update -qq && apt-get install -y -qq hyperfine
fi

# The real executable behind a pip console script, so the timings leave out pyenv's shim (and for
# Kingfisher, the Python wrapper around its native binary).
resolve() {
    local p
    p="$(command -v "$1" 2>/dev/null)" || return 1
    if command -v pyenv >/dev/null && [[ "$p" == */shims/* ]]; then
        p="$(pyenv which "$1" 2>/dev/null)" || return 1
    fi
    printf '%s\n' "$p"
}
kf="${KINGFISHER:-}"
if [[ -z "$kf" ]] && kf="$(resolve kingfisher)"; then
    py="$(sed -n '1s/^#!//p' "$kf")"
    if [[ "$py" == /* && -x "$py" ]]; then
        native="$("$py" -c 'import importlib.util as u, os; s = u.find_spec("kingfisher"); print(os.path.join(os.path.dirname(s.origin), "bin", "kingfisher"))' 2>/dev/null || true)"
        [[ -n "$native" && -x "$native" ]] && kf="$native"
    fi
fi
ds="${DETECT_SECRETS:-$(resolve detect-secrets || true)}"
[[ -n "$kf" ]] || echo "kingfisher not found (pip install kingfisher-bin): skipped" >&2
[[ -n "$ds" ]] || echo "detect-secrets not found (pip install detect-secrets): skipped" >&2
nonet=""
if unshare -n true 2>/dev/null; then nonet="unshare -n "; fi

work="$(mktemp -d "$workparent/cordon-dlp-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/out" "$work/hf" "$work/kf-cache"
# detect-secrets silently skips a file outside its working directory (or untracked in a git work
# tree without --all-files), so every scanner runs from inside the work directory.
cd "$work"

echo "== corpora: $mib MiB clean/dense, $code_mib MiB code, $ds_mib MiB prefixes for detect-secrets" >&2
"$corpus" "$work" "$mib" >/dev/null
code_bytes=$((code_mib * 1024 * 1024))
{ find "$HOME/.cargo/registry/src" -name '*.rs' -size -200k -print0 2>/dev/null | sort -z \
    | xargs -0 cat 2>/dev/null || true; } | head -c "$code_bytes" >"$work/code.txt"
for c in clean dense code; do
    head -c $((ds_mib * 1024 * 1024)) "$work/$c.txt" >"$work/$c-small.txt"
done
printf 'hello\n' >"$work/tiny.txt"

# bench NAME TOOL FILE WARMUP COMMAND — the command writes its report to $work/out/NAME.json.
bench() {
    local name="$1" warmup="$4" cmd="$5"
    echo "== $name" >&2
    hyperfine --style basic --warmup "$warmup" --runs "$runs" --export-json "$work/hf/${name//\//-}.json" \
        -n "$name" "$cmd" >&2
    printf '%s\t%s\t%s\n' "$name" "$2" "$3" >>"$work/index.tsv"
}
cordon_cmd() { echo "'$cordon' dlp scan '$1' --format json --exit-zero > '$work/out/$2.json'"; }
# Kingfisher exits with a status of 200 or more when it finds something.
kf_cmd() {
    echo "${nonet}'$kf' scan --no-update-check -q -n -j 1 --no-dedup --rule-cache-dir '$work/kf-cache' --format json '$1' > '$work/out/$2.json' || [ \$? -ge 200 ]"
}
ds_cmd() { echo "${nonet}'$ds' scan -n --all-files '$1' > '$work/out/$2.json'"; }

for c in clean dense code; do
    bench "cordon/$c" cordon "$work/$c.txt" 1 "$(cordon_cmd "$work/$c.txt" "cordon-$c")"
    [[ -z "$kf" ]] || bench "kingfisher/$c" kingfisher "$work/$c.txt" 1 "$(kf_cmd "$work/$c.txt" "kingfisher-$c")"
    if [[ -n "$ds" ]]; then
        bench "cordon/$c-small" cordon "$work/$c-small.txt" 1 "$(cordon_cmd "$work/$c-small.txt" "cordon-$c-small")"
        bench "detect-secrets/$c-small" detect-secrets "$work/$c-small.txt" 0 "$(ds_cmd "$work/$c-small.txt" "detect-secrets-$c-small")"
    fi
done

echo "== start-up (6-byte file)" >&2
startup=(-n cordon "$cordon dlp scan $work/tiny.txt --format json --exit-zero")
[[ -z "$kf" ]] || startup+=(-n kingfisher "${nonet}$kf scan --no-update-check -q -n -j 1 --rule-cache-dir $work/kf-cache --format json $work/tiny.txt")
[[ -z "$ds" ]] || startup+=(-n detect-secrets "${nonet}$ds scan -n --all-files $work/tiny.txt")
# Kingfisher's exit status is 0 on a file without findings, so -N (no shell) is safe here.
hyperfine --style basic -N --warmup 3 --runs 20 --export-json "$work/hf/startup.json" "${startup[@]}" >&2

echo
echo "cordon $("$cordon" --version | awk '{print $NF}')${kf:+, kingfisher $("$kf" --version | awk '{print $NF}')}${ds:+, detect-secrets $("$ds" --version)}; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$work" <<'PY'
import json, os, sys

work = sys.argv[1]

def first_json(path):
    with open(path) as f:
        text = f.read()
    return json.JSONDecoder().raw_decode(text.lstrip())[0]

def findings(tool, out):
    d = first_json(out)
    if tool == "cordon":
        return d["summary"]["findings"]
    if tool == "kingfisher":
        return d["metadata"]["summary"]["findings"]
    return sum(len(v) for v in d["results"].values())

rows = []
for line in open(os.path.join(work, "index.tsv")):
    name, tool, path = line.rstrip("\n").split("\t")
    median = json.load(open(os.path.join(work, "hf", name.replace("/", "-") + ".json")))["results"][0]["median"]
    mb = os.path.getsize(path) / 1e6
    out = os.path.join(work, "out", name.replace("/", "-") + ".json")
    rows.append((tool, os.path.basename(path)[:-4], mb, median, findings(tool, out)))

base = {corpus: t for tool, corpus, _, t, _ in rows if tool == "cordon"}
print(f"{'scanner':<15} {'corpus':<12} {'MB':>7} {'median s':>9} {'MB/s':>8} {'findings':>9} {'x cordon':>9}")
for tool, corpus, mb, t, n in rows:
    ratio = "" if tool == "cordon" else f"{t / base[corpus]:.1f}x"
    print(f"{tool:<15} {corpus:<12} {mb:>7.1f} {t:>9.3f} {mb / t:>8.1f} {n:>9} {ratio:>9}")
print("(MB = 10^6 bytes; 'x cordon' = the alternative's median time / cordon's on the same file)")
print()
for r in json.load(open(os.path.join(work, "hf", "startup.json")))["results"]:
    print(f"start-up {r['command']:<15} median {r['median'] * 1e3:8.1f} ms  (min {r['min'] * 1e3:.1f} ms)")
PY
