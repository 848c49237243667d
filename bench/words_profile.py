"""Where an epoch of a text model spends its time: cProfile of one epoch on a slice of the
data (no validation), the functions with the most time of their own first.

    python bench/words_profile.py char [name=value ...]    # 200k characters
    python bench/words_profile.py word [name=value ...]    # 400k characters
    python bench/words_profile.py ner [name=value ...]     # 3,000 CoNLL sentences

Settings are passed to ``train_lm`` / ``train_tagger`` as in ``bench/words_ab.py``, e.g.
``batch_size=64 affix_dim=0`` for the tagger as it was before the defaults changed.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from functools import partial

from words_ab import DATA, _value

from deltagrad.text import read_conll, train_lm, train_tagger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=("char", "word", "ner"))
    parser.add_argument("settings", nargs="*", help="name=value")
    parser.add_argument("--top", type=int, default=22)
    args = parser.parse_intermixed_args()
    settings = {k: _value(v) for k, v in (s.split("=", 1) for s in args.settings)}
    if args.model == "ner":
        sentences = read_conll(DATA / "conll2003" / "train.txt")[:3000]
        train = partial(train_tagger, sentences, None, epochs=1, **settings)
    else:
        text = (DATA / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
        text = text[:200_000 if args.model == "char" else 400_000]
        train = partial(train_lm, text, valid_fraction=0, level=args.model, epochs=1,
                        **settings)
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    model = train()
    profile.disable()
    print(f"wall {time.perf_counter() - start:.1f} s, epoch {model.info['seconds']:.1f} s, "
          f"settings {model.info['training']}")
    pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
