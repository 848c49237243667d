"""Tables as practitioners have them: ``read_table`` (delimiters, encodings, quotes, missing
spellings, Parquet) and ``TableEncoder`` (each column kind fitted on the training rows only,
kept as plain JSON, applied identically later), checked against values computed here."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deltagrad.data import DataError, Problems, TableEncoder, read_table
from deltagrad.data.columns import date_cycles


def encoder_of(table, rows=None, target="y", **options) -> TableEncoder:
    rows = np.arange(table.n_rows) if rows is None else np.asarray(rows)
    problems = Problems(table.path)
    encoder = TableEncoder.fit(table, rows, target=target, problems=problems, **options)
    problems.raise_if_any()
    return encoder


def transform(encoder: TableEncoder, table, rows=None) -> np.ndarray:
    problems = Problems(table.path)
    X = encoder.transform(table, rows, problems)
    problems.raise_if_any()
    return X


def coding(encoder: TableEncoder, name: str) -> dict:
    return next(c for c in encoder.to_dict()["columns"] if c["name"] == name)


# --- reading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_the_delimiter_is_detected(tmp_path, delimiter):
    p = tmp_path / "t.csv"
    p.write_text(delimiter.join(["a", "b", "y"]) + "\n"
                 + "".join(delimiter.join([str(i), f"x{i % 3}", "k"]) + "\n" for i in range(6)))
    t = read_table(p)
    assert t.names == ["a", "b", "y"]
    assert t.columns["a"].data.tolist() == list(range(6))
    assert t.columns["b"].values == ["x0", "x1", "x2"]


def test_a_given_delimiter_wins_and_semicolon_files_read_decimal_commas(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("a;b\n1,5;x,y\n2,25;z\n")
    t = read_table(p, delimiter=";")
    assert t.columns["a"].data.tolist() == [1.5, 2.25]  # a decimal comma
    assert t.columns["b"].values == ["x,y", "z"]
    assert read_table(p, delimiter=",").names == ["a;b"]  # as told: one column


def test_bom_latin1_and_quoted_fields(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes("\ufeffcity,n\n\"Köln, DE\",1\n\"two\nlines\",2\n".encode("utf-8"))
    t = read_table(p)
    assert t.names == ["city", "n"] and t.columns["city"].values == ["Köln, DE", "two\nlines"]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("city,n\nMünchen,1\nGenève,2\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8 text.*--encoding latin-1"):
        read_table(latin)
    assert read_table(latin, encoding="latin-1").columns["city"].values == ["Genève", "München"]


@pytest.mark.parametrize("spelling", ["", "NA", "na", "N/A", "n/a", "null", "NULL", "NaN",
                                      "nan", "?", "#N/A", " NA "])
def test_every_missing_spelling_is_missing(tmp_path, spelling):
    p = tmp_path / "t.csv"
    p.write_text(f"num,cat\n1,a\n{spelling},{spelling}\n3,b\n")
    t = read_table(p)
    assert t.columns["num"].kind == "number" and t.columns["cat"].kind == "text"
    assert t.columns["num"].missing.tolist() == [False, True, False]
    assert t.columns["cat"].missing.tolist() == [False, True, False]
    assert t.columns["cat"].values == ["a", "b"]


def test_parquet_reads_like_csv(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    p = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": [1.0, None, 3.0], "flag": [True, False, None],
                             "kind": ["a", None, "b"]}), p)
    t = read_table(p)
    assert [c.kind for c in t.columns.values()] == ["number", "number", "text"]
    assert np.isnan(t.columns["x"].data[1]) and t.columns["flag"].data[:2].tolist() == [1, 0]
    assert t.columns["kind"].data.tolist() == [0, -1, 1]
    assert t.where(1) == "row 2"


def test_unreadable_files_are_refused_in_one_line(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="bad.parquet: not a readable Parquet file"):
        read_table(tmp_path / "bad.parquet")
    with pytest.raises(DataError, match="unknown encoding 'klingon'"):
        (tmp_path / "t.csv").write_text("a\n1\n")
        read_table(tmp_path / "t.csv", encoding="klingon")


# --- the column kinds ------------------------------------------------------------------------


@pytest.fixture
def mixed(tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    lines = ["id,age,region,member,born,const,y"]
    for i in range(n):
        age = "" if i % 10 == 3 else str(20 + i)
        region = ["north", "south", "east"][i % 3] if i != 7 else "rare"
        member = ["yes", "no"][int(rng.integers(2))]
        born = str(np.datetime64("2020-01-01") + i * 11)
        lines.append(f"c{i},{age},{region},{member},{born},same,{i % 2}")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    return read_table(tmp_path / "m.csv")


def test_numeric_is_filled_with_the_training_median_and_standardised_on_training_rows(mixed):
    train = np.arange(40)
    enc = encoder_of(mixed, train)
    age = mixed.columns["age"].data
    seen = age[train][~np.isnan(age[train])]
    c = coding(enc, "age")
    assert c["kind"] == "numeric" and c["indicator"] is True
    assert c["fill"] == np.median(seen)
    filled = np.where(np.isnan(age[train]), np.median(seen), age[train])
    assert c["mean"] == pytest.approx(filled.mean()) and c["scale"] == pytest.approx(filled.std())
    X = transform(enc, mixed)
    j = enc.inputs.index("age")
    expected = (np.where(np.isnan(age), c["fill"], age) - c["mean"]) / c["scale"]
    np.testing.assert_allclose(X[:, j], expected, rtol=1e-6)
    np.testing.assert_array_equal(X[:, enc.inputs.index("age_missing")], np.isnan(age))


def test_categorical_one_hot_with_rare_and_unseen_values_in_other(mixed, tmp_path):
    enc = encoder_of(mixed, min_frequency=2)
    c = coding(enc, "region")
    assert c["categories"] == ["east", "north", "south"]  # 'rare' (once) folds into other
    slots = [f"region={v}" for v in ("east", "north", "south", "other")]
    X = transform(enc, mixed)[:, [enc.inputs.index(s) for s in slots]]
    assert (X.sum(axis=1) == 1).all() and X[7].tolist() == [0, 0, 0, 1]
    assert X[0].tolist() == [0, 1, 0, 0]
    later = tmp_path / "later.csv"
    later.write_text("age,region,member,born\n30,west,no,2021-03-01\n")
    X2 = transform(enc, read_table(later, text_columns=enc.text_columns))
    assert X2[0, [enc.inputs.index(s) for s in slots]].tolist() == [0, 0, 0, 1]


@pytest.mark.parametrize("true,false", [("true", "false"), ("Yes", "No"), ("y", "n"),
                                        ("1", "0"), ("T", "F")])
def test_booleans_become_zero_and_one(tmp_path, true, false):
    p = tmp_path / "b.csv"
    p.write_text("flag,x,y\n" + "".join(f"{[false, true][i % 2]},{i},a\n" for i in range(8)))
    enc = encoder_of(read_table(p))
    assert coding(enc, "flag")["kind"] == "boolean"
    X = transform(enc, read_table(p))
    assert X[:, enc.inputs.index("flag")].tolist() == [0, 1] * 4


def test_dates_give_a_day_number_and_month_and_weekday_cycles(mixed):
    enc = encoder_of(mixed)
    c = coding(enc, "born")
    assert c["kind"] == "date"
    days = mixed.columns["born"].data
    assert days[0] == (np.datetime64("2020-01-01") - np.datetime64("1970-01-01")).astype(int)
    X = transform(enc, mixed)
    j = enc.inputs.index("born_days")
    np.testing.assert_allclose(X[:, j], (days - c["mean"]) / c["scale"], rtol=1e-5, atol=1e-6)
    # 2020-01-01 was a Wednesday (weekday 2) in January (month 0)
    expected = [np.sin(0), np.cos(0), np.sin(2 * np.pi * 2 / 7), np.cos(2 * np.pi * 2 / 7)]
    np.testing.assert_allclose(X[0, j + 1:j + 5], expected, atol=1e-6)
    np.testing.assert_allclose(date_cycles(days[:1])[0], expected, atol=1e-12)


def test_identifier_and_constant_columns_are_dropped_with_the_reason(mixed):
    enc = encoder_of(mixed)
    reasons = {d["name"]: d["reason"] for d in enc.dropped}
    assert reasons["id"].startswith("identifier-like")
    assert reasons["const"].startswith("constant ('same'")
    assert "id" not in enc.feature_names and "const" not in enc.feature_names


def test_drop_categorical_and_numeric_override_the_guesses(mixed):
    enc = encoder_of(mixed, drop=["region"], categorical=["age"])
    assert "region" not in enc.feature_names
    assert coding(enc, "age")["kind"] == "categorical"
    assert "age=other" in enc.inputs and "age_missing" in enc.inputs
    with pytest.raises(DataError) as info:
        encoder_of(mixed, drop=["nope"], categorical=["y"], numeric=["region"])
    message = str(info.value)
    assert "3 problems" in message and "--drop: no column 'nope'" in message
    assert "'y' is the target" in message and "--numeric region: the column holds no numbers" \
        in message


def test_the_fitted_encoder_is_plain_json_and_applies_identically_once_reloaded(mixed):
    enc = encoder_of(mixed, np.arange(45))
    text = json.dumps(enc.to_dict())
    again = TableEncoder.from_dict(json.loads(text))
    assert again.inputs == enc.inputs
    np.testing.assert_array_equal(transform(again, mixed), transform(enc, mixed))
    garbled = json.loads(text)
    garbled["columns"][0]["scale"] = -1.0
    with pytest.raises(ValueError, match="garbled"):
        TableEncoder.from_dict(garbled)


def test_a_numeric_column_with_a_typo_is_a_problem_until_numeric_says_how_to_read_it(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("n,y\n" + "".join(f"{'seven' if i == 5 else i},{i % 2}\n" for i in range(30)))
    t = read_table(p)
    with pytest.raises(DataError, match=r"column 'n' holds numbers but also 1 text cell: "
                                        r"'seven' \(line 7\).*--numeric n.*--categorical n"):
        encoder_of(t)
    enc = encoder_of(t, numeric=["n"])
    c = coding(enc, "n")
    assert c["kind"] == "numeric" and c["indicator"] and c["text_as_missing"]
    assert transform(enc, t)[5, enc.inputs.index("n_missing")] == 1
