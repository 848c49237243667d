"""Train the feed-forward (Bengio-style) language model on tiny Shakespeare, at character and
at word level, and compare it with an interpolated Kneser-Ney n-gram model of the same
context, counted on the same 90 % and scored by the same code on the last 10 %.

    python examples/lm_shakespeare.py [TEXT] [--level char|word|both] [--char-minutes 15]
                                      [--word-minutes 10] [--out runs/lm]

TEXT is a plain-text file (by default ../shared/data/tinyshakespeare/input.txt next to this
repository). Nothing is downloaded.

The matrices here are small: on a machine busy with other work, one BLAS thread
(OPENBLAS_NUM_THREADS=1) ran these several times faster than two competing for the cores;
alone on an idle 2-core machine the default two threads were about 15 % faster (45 s per
character-level epoch against 52 s).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from deltagrad.text import KneserNeyLM
from deltagrad.text.lm import LEVEL_DEFAULTS, split_text, train_lm

ROOT = Path(__file__).resolve().parents[1]

def line(name: str, s: dict, unit: str) -> str:
    return (f"  {name:<28} cross-entropy {s['cross_entropy']:.4f} nats/{unit}  "
            f"perplexity {s['perplexity']:9.3f}")


def run(level: str, train: str, valid: str, minutes: float, out: Path | None) -> None:
    print(f"== {level} level, {minutes:g} minutes of training, {LEVEL_DEFAULTS[level]}")
    start = time.perf_counter()
    # The level's default settings (LEVEL_DEFAULTS); the time limit ends the run.
    model = train_lm(train, valid_text=valid, level=level, epochs=1000, max_time=minutes * 60,
                     log=lambda s: print("  " + s, flush=True))
    seconds = time.perf_counter() - start
    print(f"  trained for {seconds:.0f} s; {len(model.vocab)} tokens in the vocabulary; best "
          f"epoch {model.info['best_epoch']}")
    net = model.evaluate(valid)
    kn = model.ngram_baseline(train, valid)
    print(line(f"network, context {model.context}", net, level))
    print(line(f"Kneser-Ney {model.context + 1}-gram", kn, level))
    # The n-gram's best context is usually shorter than the network's: report it too.
    X, y = model.dataset(train)
    Xv, yv = model.dataset(valid)
    best = min((KneserNeyLM(c, len(model.vocab)).fit(X, y).cross_entropy(Xv, yv), c)
               for c in range(1, model.context + 1))
    print(f"  best Kneser-Ney over contexts 1..{model.context}: {best[0]:.4f} "
          f"(context {best[1]})")
    print("  sample (temperature 0.8, seed 0):")
    print("  | " + model.sample(300 if level == "char" else 80, temperature=0.8, seed=0,
                                prompt="ROMEO:\n" if level == "char" else "romeo :")
          .replace("\n", "\n  | "))
    if out is not None:
        model.info["valid"] = {"model": net, "kneser_ney": kn}
        print(f"  saved to {model.save(out / level)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text", nargs="?", type=Path,
                        default=ROOT.parent / "shared/data/tinyshakespeare/input.txt")
    parser.add_argument("--level", choices=("char", "word", "both"), default="both")
    parser.add_argument("--char-minutes", type=float, default=15.0)
    parser.add_argument("--word-minutes", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=None, help="save the models here")
    args = parser.parse_args()
    train, valid = split_text(args.text.read_text(encoding="utf-8"), 0.1)
    print(f"{len(train)} characters for training, {len(valid)} for validation")
    for level in ("char", "word"):
        if args.level in (level, "both"):
            run(level, train, valid, getattr(args, f"{level}_minutes"), args.out)


if __name__ == "__main__":
    main()
