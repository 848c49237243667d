"""One short, time-budgeted training run of a text model, for A/B comparisons of settings:
prints one JSON line with the settings, the epochs done and the validation figures.

    python bench/words_ab.py char --minutes 4 batch_size=512 lr=3e-3
    python bench/words_ab.py word --minutes 4 context=4
    python bench/words_ab.py ner --minutes 4 affix_dim=16

Settings are ``name=value`` pairs passed to ``train_lm`` / ``train_tagger`` (values read as
Python literals where they parse, else as strings; ``epochs`` is 1000 unless given, so
the time budget ends the run). Run A and B side by side, each with one
BLAS thread (``OPENBLAS_NUM_THREADS=1``), and repeat with the order swapped: on a shared
machine only interleaved runs compare fairly. Data: ``../shared/data`` next to the repo.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path

from deltagrad.text import read_conll, train_lm, train_tagger
from deltagrad.text.lm import split_text

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def run_lm(level: str, minutes: float, settings: dict) -> dict:
    text = (DATA / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    train, valid = split_text(text, 0.1)
    model = train_lm(train, valid_text=valid, level=level, max_time=minutes * 60, log=_log,
                     **{"epochs": 1000, **settings})
    return {"valid": model.evaluate(valid)["cross_entropy"], "epochs": len(
        model.info["history"]), "best_epoch": model.info["best_epoch"]}


def run_ner(minutes: float, settings: dict) -> dict:
    train, valid = (read_conll(DATA / "conll2003" / f"{s}.txt") for s in ("train", "valid"))
    tagger = train_tagger(train, valid, max_time=minutes * 60, log=_log,
                          **{"epochs": 1000, **settings})
    return {"valid_f1": tagger.evaluate(valid)["f1"], "epochs": len(tagger.info["history"]),
            "best_epoch": tagger.info["best_epoch"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=("char", "word", "ner"))
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("settings", nargs="*", help="name=value")
    args = parser.parse_intermixed_args()
    settings = {k: _value(v) for k, v in (s.split("=", 1) for s in args.settings)}
    start = time.perf_counter()
    result = (run_ner(args.minutes, settings) if args.model == "ner" else
              run_lm(args.model, args.minutes, settings))
    print(json.dumps({"model": args.model, "minutes": args.minutes, **settings, **result,
                      "wall_s": round(time.perf_counter() - start, 1)}), flush=True)


if __name__ == "__main__":
    main()
