"""``deltagrad lm``: train, evaluate and sample a feed-forward (Bengio-style) language model.

Results go to standard output, progress to standard error; errors as ``text_runs`` says.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..backend import as_device
from ..text.lm import LEVEL_DEFAULTS, LanguageModel, split_text, train_lm
from .text_runs import (Activation, ClipNorm, Deterministic, Device, MaxMinutes, Optimizer,
                        Overwrite, Plot, Quiet, Resume, Seed, progress, resumable, save_run,
                        start_run, user_errors)

app = typer.Typer(name="lm", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False,
                  help="Language models: a feed-forward network over the previous tokens.")


def _defaults(name: str, show=str) -> str:
    """'default X for chars, Y for words': a setting's defaults, from LEVEL_DEFAULTS."""
    char, word = (show(LEVEL_DEFAULTS[level][name]) for level in ("char", "word"))
    return f"default {char} for both" if char == word else (
        f"default {char} for chars, {word} for words")


def _widths(hidden) -> str:
    return ",".join(map(str, hidden))


def _on(flag: bool) -> str:
    return "on" if flag else "off"


class Level(str, Enum):
    char = "char"
    word = "word"


class Part(str, Enum):
    valid = "valid"
    all = "all"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _line(name: str, scores: dict, unit: str) -> str:
    return (f"{name}: cross-entropy {scores['cross_entropy']:.4f} nats/{unit} "
            f"({scores['bits']:.4f} bits), perplexity {scores['perplexity']:.3f} "
            f"over {scores['tokens']} {unit}s")


def _report(model, train_text: str, valid_text: str, ngram: bool, as_json: bool,
            title: str) -> dict:
    scores = {"model": model.evaluate(valid_text)}
    if ngram:
        scores["kneser_ney"] = model.ngram_baseline(train_text, valid_text)
    if as_json:
        print(json.dumps({"data": title, "context": model.context, "level": model.level,
                          **scores}))
    else:
        print(_line(f"{title}, neural LM (context {model.context})", scores["model"],
                    model.level))
        if ngram:
            print(_line(f"{title}, Kneser-Ney {model.context + 1}-gram", scores["kneser_ney"],
                        model.level))
    return scores


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="Text file; its last part is held out.")],
    out: Annotated[Path, typer.Option(
        help="Folder to save the model in, with a checkpoint after every epoch.")],
    level: Annotated[Level, typer.Option(help="Model characters or words.")] = Level.char,
    context: Annotated[int | None, typer.Option(
        help=f"Tokens of context, the n-gram order - 1 ({_defaults('context')}).")
    ] = None,
    valid_fraction: Annotated[float, typer.Option(help="Share of the text held out.")] = 0.1,
    epochs: Annotated[int | None, typer.Option(
        help=f"Passes over the training text, over which the learning rate falls "
             f"({_defaults('epochs')}).")] = None,
    max_minutes: MaxMinutes = None,
    hidden: Annotated[str | None, typer.Option(
        help=f"Hidden layer widths ({_defaults('hidden', _widths)}).")] = None,
    activation: Annotated[Activation | None, typer.Option(
        help=f"The hidden layers' activation ({_defaults('activation')}).")] = None,
    embed_dim: Annotated[int | None, typer.Option(
        help=f"Size of a token vector ({_defaults('embed_dim')}).")] = None,
    dropout: Annotated[float | None, typer.Option(
        help=f"Dropout after each hidden layer ({_defaults('dropout')}).")] = None,
    context_dropout: Annotated[float | None, typer.Option(
        help=f"Chance of hiding each context token while training "
             f"({_defaults('context_dropout')}).")] = None,
    embed_dropout: Annotated[float | None, typer.Option(
        help=f"Dropout on the concatenated token vectors ({_defaults('embed_dropout')}).")
    ] = None,
    tie_embeddings: Annotated[bool | None, typer.Option(
        "--tie-embeddings/--no-tie-embeddings",
        help=f"The output layer reuses the token vectors ({_defaults('tie_embeddings', _on)}).")
    ] = None,
    weight_decay: Annotated[float | None, typer.Option(
        help=f"L2 penalty on every weight, decoupled with --optimizer adamw "
             f"({_defaults('weight_decay')}).")] = None,
    direct: Annotated[bool | None, typer.Option(
        "--direct/--no-direct",
        help=f"Direct input-to-output connections ({_defaults('direct', _on)}).")] = None,
    min_freq: Annotated[int | None, typer.Option(
        help=f"Rarer tokens become <unk> ({_defaults('min_freq')}).")] = None,
    lr: Annotated[float | None, typer.Option(
        help=f"Learning rate at the start ({_defaults('lr')}).")] = None,
    batch_size: Annotated[int | None, typer.Option(
        help=f"Tokens per step ({_defaults('batch_size')}).")] = None,
    optimizer: Annotated[Optimizer | None, typer.Option(
        help=f"Optimiser ({_defaults('optimizer')}).")] = None,
    clip_norm: ClipNorm = None,
    seed: Seed = 0,
    device: Device = "cpu",
    resume: Resume = False,
    overwrite: Overwrite = False,
    plot: Plot = False,
    ngram: Annotated[bool, typer.Option(
        help="Also score a Kneser-Ney n-gram model with the same context.")] = True,
    deterministic: Deterministic = False,
    quiet: Quiet = False,
    as_json: Annotated[bool, typer.Option("--json", help="Scores as one JSON line.")] = False,
):
    """Train a language model on a text file and save it as a model folder."""
    with user_errors():
        if not 0 < valid_fraction < 1:
            raise ValueError(f"--valid-fraction must lie in (0, 1), got {valid_fraction}")
        max_time = start_run(out, resume, overwrite, plot, max_minutes)
        where = as_device(device)  # an unknown device or a missing CuPy: before any reading
        text = _read(data)
        train_text, valid_text = split_text(text, valid_fraction)
        with resumable(out):
            model = train_lm(train_text, valid_text=valid_text, valid_fraction=valid_fraction,
                             level=level.value, context=context, embed_dim=embed_dim,
                             hidden=hidden, activation=activation and activation.value,
                             dropout=dropout, direct=direct,
                             context_dropout=context_dropout, embed_dropout=embed_dropout,
                             tie_embeddings=tie_embeddings, weight_decay=weight_decay,
                             min_freq=min_freq,
                             epochs=epochs, batch_size=batch_size, lr=lr,
                             optimizer=optimizer and optimizer.value, clip_norm=clip_norm,
                             seed=seed,
                             max_time=max_time, out_dir=out, resume=resume,
                             progress=progress(quiet), deterministic=deterministic,
                             device=where)
        if valid_text:
            scores = _report(model, train_text, valid_text, ngram, as_json, "valid")
            model.info["valid"] = scores
        save_run(model, out, plot, quiet, f"{model.level} LM: {data.name}", "model")


@app.command()
def evaluate(
    model: Annotated[Path, typer.Argument(help="Model folder written by 'lm train'.")],
    data: Annotated[Path, typer.Option(help="Text file to score.")],
    part: Annotated[Part, typer.Option(
        help="valid: the held-out end of the file, as in training; all: the whole file.")
    ] = Part.valid,
    ngram: Annotated[bool, typer.Option(
        help="Also score a Kneser-Ney n-gram model counted on the rest of the file.")] = False,
    mix: Annotated[bool, typer.Option(
        "--mix", help="Also mix the network with a Kneser-Ney model (Bengio et al.): the "
        "n-gram context and the weight are chosen on the first half of the held-out part "
        "only; network, n-gram and mixture are scored on its second half.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Scores as one JSON line.")] = False,
):
    """Cross-entropy and perplexity of a language model on a text file."""
    with user_errors():
        lm = LanguageModel.load(model)
        text = _read(data)
        if part is Part.all:
            if ngram or mix:
                raise ValueError("--ngram and --mix need --part valid: the n-gram model is "
                                 "counted on the part of the file the network was trained on")
            _report(lm, "", text, False, as_json, str(data))
            return
        fraction = lm.info.get("training", {}).get("valid_fraction") or 0.1
        train_text, valid_text = split_text(text, fraction)
        _report(lm, train_text, valid_text, ngram, as_json, f"{data} (last {fraction:g})")
        if mix:
            _mix_report(lm, train_text, valid_text, as_json)


def _mix_report(lm: LanguageModel, train_text: str, held_out: str, as_json: bool) -> dict:
    """Tune the mixture on the first half of ``held_out``, score it on the second half."""
    tune_text, test_text = split_text(held_out, 0.5)
    scores = lm.evaluate_mixture(train_text, test_text, lm.tune_mixture(train_text, tune_text))
    if as_json:
        print(json.dumps({"data": "second half of the held-out part", "level": lm.level,
                          **scores}))
        return scores
    unit, title = lm.level, "held-out second half"
    print(f"mixture weight {scores['weight']:.3f} on the network, Kneser-Ney "
          f"{scores['kn_context'] + 1}-gram, both chosen on the first half "
          f"({scores['tune_tokens']} {unit}s)")
    print(_line(f"{title}, neural LM (context {lm.context})", scores["model"], unit))
    print(_line(f"{title}, Kneser-Ney {scores['kn_context'] + 1}-gram", scores["kneser_ney"],
                unit))
    print(_line(f"{title}, mixture", scores["mixture"], unit))
    return scores


@app.command()
def sample(
    model: Annotated[Path, typer.Argument(help="Model folder written by 'lm train'.")],
    length: Annotated[int, typer.Option(help="Tokens to generate.")] = 300,
    temperature: Annotated[float, typer.Option(
        help="Below 1: safer text; above 1: wilder; 0: always the likeliest.")] = 1.0,
    top_k: Annotated[int | None, typer.Option(help="Draw only from the k likeliest.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (same seed, same text).")] = None,
    prompt: Annotated[str, typer.Option(help="Text to continue.")] = "",
):
    """Print text generated by a language model."""
    with user_errors():
        lm = LanguageModel.load(model)
        print(lm.sample(length, prompt=prompt, temperature=temperature, top_k=top_k,
                        seed=seed))
