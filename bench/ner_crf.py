"""The NER tagger's decoders compared on one trained network: greedy, BIO-constrained Viterbi,
and Viterbi with learned transition scores (a linear-chain CRF fitted on the frozen network's
log-probabilities of the training words), entity F1 on validation and test; plus the fit's
time and the F1 after a capped number of L-BFGS iterations.

    python examples/ner_conll.py --minutes 4 --out runs/ner   # a trained tagger folder
    python bench/ner_crf.py runs/ner [--iterations 30 100]

The fit here is redone from zero whatever the folder holds. Emissions are the network's
log-probabilities; its logits would give the same scores, the same likelihood and the same
paths, since the two differ by one constant per word, which every path adds alike.
Data: ``../shared/data/conll2003`` next to the repository.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from deltagrad.text import NERTagger, read_conll
from deltagrad.text.bio import constrained_decode
from deltagrad.text.metrics import entity_scores
from deltagrad.text.transitions import fit_transition_scores

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "conll2003"


def f1(tagger: NERTagger, sentences, log_probs, how) -> float:
    """Entity F1 of ``sentences`` decoded from ``log_probs``: "greedy", or the keyword
    arguments of ``constrained_decode`` (learned scores, or none)."""
    pred = [[tagger.tags[i] for i in (lp.argmax(1) if how == "greedy" else
                                      constrained_decode(lp, tagger.tags, **how))]
            for lp in log_probs]
    return entity_scores([list(t) for _, t in sentences], pred)["f1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--iterations", type=int, nargs="+", default=[30, 100])
    args = parser.parse_args()
    tagger = NERTagger.load(args.model)
    splits = {name: read_conll(args.data / f"{name}.txt") for name in ("train", "valid", "test")}
    probs = {name: tagger.log_probs([w for w, _ in s]) for name, s in splits.items()}
    index = {t: i for i, t in enumerate(tagger.tags)}
    train = splits["train"]
    tags = np.array([index[t] for _, ts in train for t in ts])
    rows = [("greedy", "greedy"), ("viterbi", {})]
    for iterations in args.iterations:
        began = time.perf_counter()
        scores = fit_transition_scores(np.concatenate(probs["train"]),
                                       [len(w) for w, _ in train], tags, tagger.tags,
                                       max_steps=iterations)
        print(f"fit, at most {iterations} L-BFGS iterations: "
              f"{time.perf_counter() - began:.1f} s")
        rows.append((f"crf ({iterations} it.)", scores))
    for name, how in rows:
        print(f"{name:16s} valid F1 {f1(tagger, splits['valid'], probs['valid'], how):.4f}  "
              f"test F1 {f1(tagger, splits['test'], probs['test'], how):.4f}")


if __name__ == "__main__":
    main()
