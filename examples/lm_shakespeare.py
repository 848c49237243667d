"""Train the feed-forward (Bengio-style) language model on tiny Shakespeare, at character and
at word level, and compare it with interpolated Kneser-Ney n-gram models of every context
from 1 to 10, counted on the same 90 % and scored by the same code on the last 10 %; then
mix the network with the best of them, as Bengio et al. (2003) did.

    python examples/lm_shakespeare.py [TEXT] [--level char|word|both] [--char-minutes 15]
                                      [--word-minutes 15] [--out runs/lm]

TEXT is a plain-text file (by default ../shared/data/tinyshakespeare/input.txt next to this
repository). Nothing is downloaded. The settings are the level's defaults
(``deltagrad.text.lm.LEVEL_DEFAULTS``), which ``deltagrad lm train`` uses too; the time
limit ends the run, the per-epoch evaluation included, and the best epoch is kept.

The mixture's n-gram context and weight are chosen on the first half of the held-out 10 %
only; network, n-gram model and mixture are then scored on its second half (as
``deltagrad lm evaluate --mix`` does).

The matrices here are small: on a machine busy with other work, one BLAS thread
(OPENBLAS_NUM_THREADS=1) ran these several times faster than two competing for the cores;
alone on an idle 2-core machine the default two threads were about 15 % faster.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from deltagrad.text.lm import LEVEL_DEFAULTS, split_text, train_lm

ROOT = Path(__file__).resolve().parents[1]


def line(name: str, s: dict, unit: str) -> str:
    return (f"  {name:<34} cross-entropy {s['cross_entropy']:.4f} nats/{unit}  "
            f"perplexity {s['perplexity']:9.3f}")


def change(ours: dict, theirs: dict) -> str:
    """Our perplexity relative to theirs, in per cent (negative: ours is lower)."""
    return f"{100 * (math.exp(ours['cross_entropy'] - theirs['cross_entropy']) - 1):+.1f} %"


def run(level: str, train: str, valid: str, minutes: float, epochs: int | None,
        out: Path | None) -> None:
    print(f"== {level} level, {minutes:g} minutes of training, {LEVEL_DEFAULTS[level]}",
          flush=True)
    start = time.perf_counter()
    model = train_lm(train, valid_text=valid, level=level, epochs=epochs,
                     max_time=minutes * 60, log=lambda s: print("  " + s, flush=True))
    print(f"  trained for {time.perf_counter() - start:.0f} s (budget {minutes * 60:.0f} s); "
          f"{len(model.vocab)} tokens in the vocabulary; best epoch "
          f"{model.info['best_epoch']} of {len(model.info['history'])}")
    net = model.evaluate(valid)
    table = model.ngram_table(train, valid, range(1, 11))
    print("  Kneser-Ney on the held-out 10 %, by context (tokens before the predicted one):")
    for c, s in table.items():
        print(line(f"Kneser-Ney {c + 1}-gram (context {c})", s, level))
    best = min(table, key=lambda c: table[c]["cross_entropy"])
    same = table.get(model.context)
    print(line(f"network, context {model.context}", net, level))
    print(f"  network's perplexity vs the best Kneser-Ney ({best + 1}-gram): "
          f"{change(net, table[best])}" + (
              "" if same is None else f"; vs the same context ({model.context + 1}-gram): "
              f"{change(net, same)}"))
    tune, test = split_text(valid, 0.5)
    mix = model.evaluate_mixture(train, test, model.tune_mixture(train, tune, range(1, 11)))
    print(f"  mixture: weight {mix['weight']:.3f} on the network with the Kneser-Ney "
          f"{mix['kn_context'] + 1}-gram, both chosen on the first half of the held-out part; "
          f"scored on its second half:")
    for name in ("model", "kneser_ney", "mixture"):
        print(line(f"  {name}", mix[name], level))
    print(f"  mixture's perplexity vs that Kneser-Ney model: "
          f"{change(mix['mixture'], mix['kneser_ney'])}; vs the network: "
          f"{change(mix['mixture'], mix['model'])}")
    print("  sample (temperature 0.8, seed 0):")
    print("  | " + model.sample(300 if level == "char" else 80, temperature=0.8, seed=0,
                                prompt="ROMEO:\n" if level == "char" else "romeo :")
          .replace("\n", "\n  | "), flush=True)
    if out is not None:
        model.info["valid"] = {"model": net, "mixture": mix,
                               "kneser_ney": {str(c): s for c, s in table.items()}}
        print(f"  saved to {model.save(out / level)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text", nargs="?", type=Path,
                        default=ROOT.parent / "shared/data/tinyshakespeare/input.txt")
    parser.add_argument("--level", choices=("char", "word", "both"), default="both")
    parser.add_argument("--char-minutes", type=float, default=15.0)
    parser.add_argument("--word-minutes", type=float, default=15.0)
    # characters: as many passes as the time allows; words: the level's default, since
    # the word network learns its 260k words by heart in a few more
    parser.add_argument("--char-epochs", type=int, default=1000)
    parser.add_argument("--word-epochs", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="save the models here")
    args = parser.parse_args()
    train, valid = split_text(args.text.read_text(encoding="utf-8"), 0.1)
    print(f"{len(train)} characters for training, {len(valid)} for validation")
    for level in ("char", "word"):
        if args.level in (level, "both"):
            run(level, train, valid, getattr(args, f"{level}_minutes"),
                getattr(args, f"{level}_epochs"), args.out)


if __name__ == "__main__":
    main()
