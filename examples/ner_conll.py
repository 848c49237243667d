"""Train the window NER tagger on CoNLL-2003 English and report token accuracy and entity F1,
overall and per entity type.

    python examples/ner_conll.py [DATA_DIR] [--minutes 15] [--out runs/ner]

DATA_DIR holds train.txt, valid.txt and test.txt in CoNLL format (by default
../shared/data/conll2003 next to this repository). Nothing is downloaded. The settings are
``train_tagger``'s defaults, which ``deltagrad ner train`` uses too; the time limit ends the
run, the per-epoch evaluation and the learning of the tag-transition scores after it
included, and the epoch with the best validation F1 is kept. Validation and test F1 are
printed for each decoder of the same network: greedy, BIO-constrained Viterbi, and Viterbi
with the learned transition scores (crf, the default), whose per-type F1 follow.

The matrices here are small: on a machine busy with other work, one BLAS thread
(OPENBLAS_NUM_THREADS=1) ran these several times faster than two competing for the cores.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from deltagrad.text import read_conll, train_tagger

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=ROOT.parent / "shared/data/conll2003",
                        type=Path)
    parser.add_argument("--minutes", type=float, default=15.0, help="training time limit")
    parser.add_argument("--epochs", type=int, default=None,
                        help="passes over the training data, over which the learning rate "
                             "falls (default: train_tagger's)")
    parser.add_argument("--out", type=Path, default=None, help="save the tagger here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    train, valid, test = (read_conll(args.data / f"{split}.txt")
                          for split in ("train", "valid", "test"))
    print(f"sentences: train {len(train)}, valid {len(valid)}, test {len(test)}")
    start = time.perf_counter()
    epochs = {} if args.epochs is None else {"epochs": args.epochs}
    tagger = train_tagger(train, valid, max_time=args.minutes * 60, seed=args.seed, log=print,
                          **epochs)
    print(f"training took {time.perf_counter() - start:.0f} s (budget {args.minutes * 60:.0f} "
          f"s; best epoch {tagger.info['best_epoch']} of {len(tagger.info['history'])}; "
          f"learning the transition scores {tagger.info['crf']['seconds']:.0f} s); "
          f"settings {tagger.info['training']}")
    for name, sents in (("valid", valid), ("test", test)):
        for decode in ("greedy", "viterbi", "crf"):
            s = tagger.evaluate(sents, decode=decode)
            print(f"{name:5s} {decode:7s}: token accuracy {s['accuracy']:.4f}  entity "
                  f"precision {s['precision']:.4f} recall {s['recall']:.4f} F1 {s['f1']:.4f}")
    scores = tagger.evaluate(test)  # decoded with the learned transition scores
    for kind, s in scores["per_type"].items():
        print(f"  test {kind:5s} P {s['precision']:.4f} R {s['recall']:.4f} F1 {s['f1']:.4f} "
              f"({s['support']} entities)")
    if args.out is not None:
        tagger.info["test"] = {k: scores[k] for k in ("precision", "recall", "f1", "accuracy")}
        print(f"saved to {tagger.save(args.out)}")


if __name__ == "__main__":
    main()
