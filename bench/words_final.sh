#!/usr/bin/env bash
# The figures of the "words, round two" issue, one run after another on an idle machine:
#   1. char LM, 15 minutes: network vs Kneser-Ney over contexts 1-10, and the mixture
#   2. char LM, 5 minutes, through the command line (network vs the same-context n-gram),
#      timed from outside to show the budget contract
#   3. word LM, 15 minutes: network vs Kneser-Ney over contexts 1-10, and the mixture
#   4. NER on CoNLL-2003, 15 minutes: valid and test entity F1, per type
# Each command is printed before it runs; everything goes to $OUT/results.txt.
# Expected total: 60-65 minutes on an idle 2-core machine: 50 of training budgets, the
# rest the Kneser-Ney fits (the character table over contexts 1-10 is counted twice, once on
# the whole held-out part for the table and once on its first half for the mixture: about
# 2-3 minutes each), the mixtures and the final evaluations.
#
#   PYTHON=.venv/bin/python bash bench/words_final.sh [OUT]    (default runs/words_final)
#
# SCALE=0.02 bash bench/words_final.sh /tmp/smoke   runs every step with its budget scaled
# (a smoke test of the script itself; the figures then mean nothing).
# STEPS="word15 ner15" bash bench/words_final.sh OUT   runs only those steps (of char15, char5,
# word15, ner15).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/words_final}
DATA=../shared/data
PY=${PYTHON:-python}
SCALE=${SCALE:-1}
minutes() { $PY -c "print($1 * $SCALE)"; }
mkdir -p "$OUT"
RESULTS="$OUT/results.txt"
: > "$RESULTS"

run() {
    echo "\$ $*" | tee -a "$RESULTS"
    local start=$SECONDS
    # a failed step is recorded and the next one still runs
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$@" 2>&1 | tee -a "$RESULTS" \
        || echo "(FAILED: exit status ${PIPESTATUS[0]})" | tee -a "$RESULTS"
    echo "(wall clock: $((SECONDS - start)) s)" | tee -a "$RESULTS"
    echo | tee -a "$RESULTS"
}

$PY -c "import numpy, platform; print('numpy', numpy.__version__, platform.processor())" \
    | tee -a "$RESULTS"
char15() {
    run $PY examples/lm_shakespeare.py "$DATA/tinyshakespeare/input.txt" --level char \
        --char-minutes "$(minutes 15)" --out "$OUT/char15"
}
char5() {
    run $PY -m deltagrad lm train --data "$DATA/tinyshakespeare/input.txt" --level char \
        --max-minutes "$(minutes 5)" --epochs 1000 --out "$OUT/char5" --overwrite --quiet
    run $PY -m deltagrad lm evaluate "$OUT/char5" --data "$DATA/tinyshakespeare/input.txt" --mix
}
word15() {
    run $PY examples/lm_shakespeare.py "$DATA/tinyshakespeare/input.txt" --level word \
        --word-minutes "$(minutes 15)" --out "$OUT/word15"
}
ner15() {
    run $PY examples/ner_conll.py "$DATA/conll2003" --minutes "$(minutes 15)" --out "$OUT/ner15"
}
for step in ${STEPS:-char15 char5 word15 ner15}; do
    $step
done
echo "results in $RESULTS"
