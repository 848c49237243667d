"""``deltagrad ner``: train, evaluate and use the window named-entity tagger on CoNLL files.

Results go to standard output, progress to standard error; errors as ``text_runs`` says.
"""

from __future__ import annotations

import inspect
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..backend import as_device
from ..text import NERTagger, read_conll, train_tagger
from .text_runs import (ClipNorm, Deterministic, Device, MaxMinutes, Optimizer,
                        OptimizerOption, Overwrite, Plot, Quiet, Resume, Seed, progress,
                        resumable, save_run, start_run, user_errors)

# train_tagger's own defaults: the command line trains what the library does
TAGGER_DEFAULTS = {name: p.default for name, p in
                   inspect.signature(train_tagger).parameters.items()}
DEFAULT_OPTIMIZER = Optimizer(TAGGER_DEFAULTS["optimizer"])

app = typer.Typer(name="ner", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False,
                  help="Named-entity tagging: a window tagger trained on CoNLL files.")


class Decode(str, Enum):
    crf = "crf"
    viterbi = "viterbi"
    greedy = "greedy"


DECODE_HELP = ("crf: best valid BIO sequence with learned tag-transition scores (a tagger "
               "trained with them); viterbi: best valid BIO sequence; greedy: best tag per "
               "word.")


def _print_scores(title: str, scores: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"split": title, **scores}))
        return
    print(f"{title}: token accuracy {scores['accuracy']:.4f}, entity precision "
          f"{scores['precision']:.4f}, recall {scores['recall']:.4f}, F1 {scores['f1']:.4f} "
          f"({scores['true_entities']} entities, {scores['tokens']} tokens)")
    for kind, s in scores["per_type"].items():
        print(f"  {kind:<6} precision {s['precision']:.4f}  recall {s['recall']:.4f}  "
              f"F1 {s['f1']:.4f}  ({s['support']})")


@app.command()
def train(
    train_path: Annotated[Path, typer.Option("--train", help="CoNLL training file.")],
    out: Annotated[Path, typer.Option(
        help="Folder to save the tagger in, with a checkpoint after every epoch.")],
    valid: Annotated[Path | None, typer.Option(
        help="CoNLL validation file: the best epoch on it is kept.")] = None,
    test: Annotated[Path | None, typer.Option(help="CoNLL test file, scored at the end.")] = None,
    epochs: Annotated[int, typer.Option(help="Passes over the training data.")] = \
        TAGGER_DEFAULTS["epochs"],
    max_minutes: MaxMinutes = None,
    hidden: Annotated[str, typer.Option(help="Hidden layer widths, e.g. 300 or 300,100.")] = "300",
    word_dim: Annotated[int, typer.Option(help="Size of a word vector.")] = TAGGER_DEFAULTS[
        "word_dim"],
    casing_dim: Annotated[int, typer.Option(help="Size of a casing vector.")] = TAGGER_DEFAULTS[
        "casing_dim"],
    affix_dim: Annotated[int, typer.Option(
        help="Size of a word's prefix and suffix vectors (0: none).")] = TAGGER_DEFAULTS[
        "affix_dim"],
    radius: Annotated[int, typer.Option(help="Words either side in the window.")] = \
        TAGGER_DEFAULTS["radius"],
    dropout: Annotated[float, typer.Option(help="Dropout after each hidden layer.")] = \
        TAGGER_DEFAULTS["dropout"],
    embed_dropout: Annotated[float, typer.Option(
        help="Dropout on the network's input, the window's concatenated vectors.")] = \
        TAGGER_DEFAULTS["embed_dropout"],
    weight_decay: Annotated[float, typer.Option(
        help="L2 penalty on every weight, decoupled with --optimizer adamw.")] = \
        TAGGER_DEFAULTS["weight_decay"],
    lr: Annotated[float, typer.Option(help="Learning rate at the start.")] = TAGGER_DEFAULTS["lr"],
    batch_size: Annotated[int, typer.Option(help="Words per step.")] = TAGGER_DEFAULTS[
        "batch_size"],
    decode: Annotated[Decode, typer.Option(
        help="How the tagger decodes; crf also learns tag-transition scores after the "
             "network (sentence-level log-likelihood), within --max-minutes.")] = Decode.crf,
    optimizer: OptimizerOption = DEFAULT_OPTIMIZER,
    clip_norm: ClipNorm = None,
    seed: Seed = 0,
    device: Device = "cpu",
    resume: Resume = False,
    overwrite: Overwrite = False,
    plot: Plot = False,
    deterministic: Deterministic = False,
    quiet: Quiet = False,
    as_json: Annotated[bool, typer.Option("--json", help="Scores as JSON lines.")] = False,
):
    """Train a tagger on CoNLL files and save it as a model folder."""
    with user_errors():
        max_time = start_run(out, resume, overwrite, plot, max_minutes)
        where = as_device(device)  # an unknown device or a missing CuPy: before any reading
        train_s = read_conll(train_path)
        valid_s = read_conll(valid) if valid is not None else None
        test_s = read_conll(test) if test is not None else None
        with resumable(out):
            tagger = train_tagger(train_s, valid_s, radius=radius, word_dim=word_dim,
                                  casing_dim=casing_dim, affix_dim=affix_dim,
                                  hidden=hidden, dropout=dropout,
                                  embed_dropout=embed_dropout, weight_decay=weight_decay,
                                  epochs=epochs, batch_size=batch_size, lr=lr,
                                  optimizer=optimizer.value, clip_norm=clip_norm, seed=seed,
                                  decode=decode.value,
                                  max_time=max_time, out_dir=out, resume=resume,
                                  progress=progress(quiet), deterministic=deterministic,
                                  device=where)
        for name, sents in (("valid", valid_s), ("test", test_s)):
            if sents is not None:
                scores = tagger.evaluate(sents)
                tagger.info[name] = {k: scores[k] for k in ("precision", "recall", "f1",
                                                            "accuracy")}
                _print_scores(name, scores, as_json)
        save_run(tagger, out, plot, quiet, f"NER tagger: {train_path.name}", "tagger")


@app.command()
def evaluate(
    model: Annotated[Path, typer.Argument(help="Model folder written by 'ner train'.")],
    data: Annotated[Path, typer.Option(help="CoNLL file with the true tags.")],
    decode: Annotated[Decode | None, typer.Option(
        help=DECODE_HELP + " Default: the tagger's own.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Scores as one JSON line.")] = False,
):
    """Score a tagger on a CoNLL file: token accuracy and entity precision/recall/F1."""
    with user_errors():
        tagger = NERTagger.load(model)
        scores = tagger.evaluate(read_conll(data), decode=None if decode is None
                                 else decode.value)
        _print_scores(str(data), scores, as_json)


@app.command()
def tag(
    model: Annotated[Path, typer.Argument(help="Model folder written by 'ner train'.")],
    text: Annotated[list[str], typer.Argument(
        help="Sentences to tag ('-' reads one sentence per line from standard input).")],
    inline: Annotated[bool, typer.Option(help="word/TAG pairs on one line.")] = False,
):
    """Print the tag of every word: 'word TAG' lines, a blank line between sentences."""
    with user_errors():
        tagger = NERTagger.load(model)
        sentences = [line for t in text for line in
                     (sys.stdin.read().splitlines() if t == "-" else [t]) if line.strip()]
        for i, sentence in enumerate(sentences):
            pairs = tagger.tag(sentence)
            if inline:
                print(" ".join(f"{w}/{t}" for w, t in pairs))
                continue
            if i:
                print()
            width = max((len(w) for w, _ in pairs), default=0)
            for word, label in pairs:
                print(f"{word:<{width}} {label}")
