"""What keeping freed memory for the next step (``deltagrad.backend.memory``) saves: one
epoch of a text model (and its validation) trained by ``Trainer.fit`` as deltagrad runs it,
and with glibc's own malloc thresholds, each in a fresh process, alternating; prints the
seconds, the page faults and the peak resident memory of each.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/allocator.py char --rounds 2
    (models: char = the character LM's default network on 300k characters, word = the word
     LM on 400k characters, ner = the tagger on 3,000 sentences; --chars N changes the
     slice. glibc adjusts its thresholds to the blocks freed so far, so whether it faults
     every step depends on the run: on all 1M training characters it does not, and the
     two take the same time)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import time

from words_ab import DATA

from deltagrad.text import read_conll, train_lm, train_tagger
from deltagrad.text.lm import split_text
from deltagrad.train import trainer


def one_epoch(model: str, chars: int | None) -> None:
    if model == "ner":
        sentences = read_conll(DATA / "conll2003" / "train.txt")[:3000]
        train_tagger(sentences, None, epochs=1)
        return
    text = (DATA / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    train = split_text(text, 0.1)[0][:chars or (300_000 if model == "char" else 400_000)]
    train_lm(train, level=model, epochs=1)  # the last 10 % held out, as by default


def measure(model: str, allocator: str, chars: int | None) -> dict:
    if allocator == "glibc":  # the thresholds glibc sets itself
        trainer.reusing_freed_memory = contextlib.nullcontext
    before = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    one_epoch(model, chars)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"model": model, "allocator": allocator,
            "seconds": round(time.perf_counter() - began, 2),
            "page_faults": after.ru_minflt - before.ru_minflt,
            "peak_rss_mb": after.ru_maxrss // 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=("char", "word", "ner"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--chars", type=int, help="characters of text for char and word")
    parser.add_argument("--one", choices=("deltagrad", "glibc"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.model, args.one, args.chars)), flush=True)
        return
    for _ in range(args.rounds):
        for allocator in ("deltagrad", "glibc"):
            chars = ["--chars", str(args.chars)] if args.chars else []
            subprocess.run([sys.executable, __file__, args.model, "--one", allocator, *chars],
                           check=True)


if __name__ == "__main__":
    main()
