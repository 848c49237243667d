"""Every bad input to the `deltagrad` command: one `error:` line on stderr, a non-zero exit,
nothing on stdout, no traceback; and damaged model folders are refused. The many error paths
run through the command's `main` in this process (`run_here`); the installed command is run
as a new process where that is what is tested (its environment)."""

import json

import pytest
from test_cli import assert_one_line_error, ok, run, run_here, write_csv

import deltagrad as dg
from deltagrad import nn


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    write_csv(d / "good.csv", ["a", "b", "label"], [(i % 7, i % 5, "yes" if i % 2 else "no")
                                                    for i in range(40)])
    (d / "empty.csv").write_text("")
    (d / "header_only.csv").write_text("a,b,label\n")
    (d / "ragged.csv").write_text("a,b,label\n1,2,x\n3,4\n")
    (d / "text.csv").write_text("a,b,label\n1,2,x\n3,four,y\n5,6,x\n")
    write_csv(d / "typo.csv", ["a", "b", "label"],
              [(i, "four" if i == 7 else i % 5, "yes" if i % 2 else "no") for i in range(40)])
    (d / "inf.csv").write_text("a,b,label\n" + "1,2,x\n3,inf,y\n" * 10)
    (d / "one_class.csv").write_text("a,b,label\n1,2,x\n3,4,x\n5,6,x\n")
    (d / "few.csv").write_text("a,b,label\n1,2,x\n3,4,y\n")
    (d / "bad_utf8.csv").write_bytes(b"a,b,label\n1,2,\xff\xfe\n")
    (d / "folder.csv").mkdir()
    return d


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, files):
    out = tmp_path_factory.mktemp("run") / "model"
    ok("train", "--data", files / "good.csv", "--target", "label", "--epochs", "2",
       "--hidden", "4", "--out", out, "-q")
    return out


BAD_TRAIN = [
    (["--data", "nonsense"], ["unknown data set 'nonsense'", "digits"]),
    (["--data", "missing.csv"], ["missing.csv: no such file"]),
    (["--data", "{d}/empty.csv"], ["empty.csv: the file is empty"]),
    (["--data", "{d}/header_only.csv"], ["header_only.csv: a header row but no data rows"]),
    (["--data", "{d}/ragged.csv"], ["ragged.csv", "line 3 has 2 fields, but the header has 3"]),
    (["--data", "{d}/typo.csv"], ["typo.csv: column 'b' holds numbers but also 1 text cell: "
                                  "'four' (line 9)", "--numeric b", "--categorical b"]),
    (["--data", "{d}/inf.csv"], ["inf.csv: line ", "column 2 ('b'): 'inf' is not a finite"]),
    (["--data", "{d}/one_class.csv"], ["holds a single class ('x')"]),
    (["--data", "{d}/few.csv"], ["2 rows are too few"]),
    (["--data", "{d}/bad_utf8.csv"], ["bad_utf8.csv: not UTF-8 text"]),
    (["--data", "{d}/folder.csv"], ["is a folder, expected a CSV or Parquet file"]),
    (["--data", "{d}/good.csv", "--target", "colour"], ["no column named 'colour'",
                                                        "'a', 'b', 'label'"]),
    (["--data", "{d}/good.csv", "--task", "regression"], ["'no' is not a number"]),
    (["--data", "iris", "--target", "x"], ["--target applies to table files"]),
    (["--data", "diabetes", "--task", "classification"], ["is a regression task"]),
    (["--epochs", "0"], ["invalid value for '--epochs'"]),
    (["--epochs", "many"], ["invalid value for '--epochs'"]),
    (["--batch-size", "-2"], ["invalid value for '--batch-size'"]),
    (["--optimizer", "lbfgs"], ["invalid value for '--optimizer'", "adam"]),
    (["--activation", "swish"], ["invalid value for '--activation'"]),
    (["--lr-schedule", "weekly"], ["invalid value for '--lr-schedule'"]),
    (["--dropout", "1.5"], ["invalid value for '--dropout'"]),
    (["--hidden", "64,x"], ["--hidden: expected comma-separated positive layer widths"]),
    (["--hidden", "64,-3"], ["--hidden"]),
    (["--lr", "-0.1"], ["--lr: must be a positive number, got -0.1"]),
    (["--clip-norm", "0"], ["--clip-norm: must be a positive number, got 0.0"]),
    (["--val-fraction", "1.5"], ["--val-fraction: must lie in [0, 1), got 1.5"]),
    (["--val-fraction", "0.5", "--test-fraction", "0.5"],
     ["--val-fraction plus --test-fraction must be below 1"]),
    (["--resume"], ["--resume needs --out DIR"]),
    (["--out", "{d}/fresh", "--resume"], ["holds no checkpoint to resume"]),
    (["--no-such-option"], ["no such option: --no-such-option"]),
]


@pytest.mark.parametrize("args, fragments", BAD_TRAIN,
                         ids=[" ".join(a)[:40] for a, _ in BAD_TRAIN])
def test_bad_train_input(files, args, fragments):
    args = [a.replace("{d}", str(files)) for a in args]
    result = run_here("train", *args, cwd=files)
    line = assert_one_line_error(result, *fragments)
    usage = line.startswith(("error: invalid value", "error: no such option"))
    assert result.returncode == (2 if usage else 1)  # click's usage status; 1 for the rest


def test_missing_arguments_and_unknown_commands():
    assert_one_line_error(run_here("evaluate"), "missing argument 'DIR'")
    assert_one_line_error(run_here("predict", "somewhere"), "missing argument 'INPUT'")
    assert_one_line_error(run_here("frobnicate"), "no such command 'frobnicate'")


def test_a_run_folder_is_never_overwritten_by_accident(files, model_dir):
    assert_one_line_error(run_here("train", "--data", files / "good.csv", "--out", model_dir),
                          "already holds a training run", "--resume", "--overwrite")
    assert_one_line_error(run_here("train", "--data", files / "good.csv", "--target", "label",
                              "--lr", "0.5", "--out", model_dir, "--resume"),
                          "--lr 0.5 differs from the interrupted run's 0.001")


def test_evaluate_and_predict_refuse_bad_inputs(files, model_dir, tmp_path):
    assert_one_line_error(run_here("evaluate", tmp_path / "nowhere"), "no such model folder")
    assert_one_line_error(run_here("predict", model_dir, files / "missing.csv"), "no such file")
    write_csv(tmp_path / "cols.csv", ["a", "c"], [(1, 2)])
    assert_one_line_error(run_here("predict", model_dir, tmp_path / "cols.csv"),
                          "no column 'b'")
    assert_one_line_error(run_here("predict", model_dir, files / "text.csv"),
                          "'four' is not a number")
    assert_one_line_error(run_here("predict", model_dir, files / "good.csv", "--out", tmp_path),
                          "is a folder, expected a file name")
    write_csv(tmp_path / "labels.csv", ["a", "b", "label"], [(1, 2, "yes"), (3, 4, "maybe")])
    assert_one_line_error(run_here("evaluate", model_dir, "--data", tmp_path / "labels.csv"),
                          "'maybe'", "not among the model's classes ['no', 'yes']")
    assert_one_line_error(run_here("evaluate", model_dir, "--data", "iris"),
                          "the model needs feature columns ['a', 'b']")
    plain = dg.save(nn.Linear(2, 2), tmp_path / "plain")
    assert_one_line_error(run_here("evaluate", plain), "was not made by 'deltagrad train'")


# --- damaged model folders --------------------------------------------------------------------

def damage(folder, how):
    weights, config = folder / "model.safetensors", folder / "config.json"
    if how == "truncated weights":
        weights.write_bytes(weights.read_bytes()[:-10])
    elif how == "empty weights":
        weights.write_bytes(b"")
    elif how == "flipped weight bytes":
        data = bytearray(weights.read_bytes())
        data[-5] ^= 0x55
        weights.write_bytes(bytes(data))
    elif how == "garbled config":
        config.write_text(config.read_text()[:40] + "}}}{")
    elif how == "config lying about shapes":
        c = json.loads(config.read_text())
        c["architecture"]["hidden_sizes"] = [5]
        c["tensors"]["layers.0.weight"]["shape"] = [5, 2]
        config.write_text(json.dumps(c))
    elif how == "missing weights":
        weights.unlink()


@pytest.mark.parametrize("how, fragment", [
    ("truncated weights", "model.safetensors: not a valid safetensors file"),
    ("empty weights", "not a valid safetensors file"),
    ("flipped weight bytes", "do not match the checksum"),
    ("garbled config", "config.json: not valid JSON"),
    ("config lying about shapes", "the architecture gives 'layers.0.bias' shape (5,)"),
    ("missing weights", "not a model folder (no model.safetensors)"),
])
def test_damaged_model_files_are_refused_in_one_line(files, model_dir, tmp_path, how, fragment):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(model_dir, folder)
    damage(folder, how)
    assert_one_line_error(run_here("evaluate", folder), fragment)
    if how == "truncated weights":  # predict loads the model the same way
        assert_one_line_error(run_here("predict", folder, files / "good.csv"), fragment)


def test_plot_without_matplotlib_says_how_to_install_it(tmp_path):
    fake = tmp_path / "site" / "matplotlib"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError(\"No module named 'matplotlib'\")\n")
    result = run("train", "--data", "xor", "--epochs", "1", "--plot",
                 env={"PYTHONPATH": str(tmp_path / "site")})
    assert_one_line_error(result, "plotting needs matplotlib", "pip install deltagrad[plot]")


def test_a_diverging_run_names_epoch_batch_and_op():
    result = run_here("train", "--data", "xor", "--optimizer", "sgd", "--lr", "1e12",
                 "--epochs", "5", "-q")
    line = assert_one_line_error(result, "training diverged at epoch 1, batch",
                                 "the first non-finite value", "op '")
    assert "smaller learning rate (now 1e+12)" in line
