"""load_csv: good files in every shape users write them, and every kind of bad file refused with
one line naming the file, the line and the column."""

import json

import numpy as np
import pytest

from deltagrad.data import MAX_INFERRED_CLASSES, DataError, load_csv


def write(tmp_path, text, name="data.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def refused(path, target="y", *parts, **kwargs):
    """Load and expect a one-line DataError naming the file and each of ``parts``."""
    with pytest.raises(DataError) as info:
        load_csv(path, target, **kwargs)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    for part in parts:
        assert part in message, (part, message)
    return message


# ---------------------------------------------------------------------------------------------
# Good files

def test_reads_features_as_float32_and_string_labels(tmp_path):
    path = write(tmp_path, "a,b,y\n1,2.5,cat\n-3,4e1,dog\n5, 6 ,cat\n")
    ds = load_csv(path, "y")
    assert ds.X.dtype == np.float32 and ds.X.shape == (3, 2)
    np.testing.assert_array_equal(ds.X, [[1, 2.5], [-3, 40], [5, 6]])
    assert ds.task == "classification"
    assert ds.class_names == ["cat", "dog"]
    assert ds.y.dtype == np.int64 and ds.y.tolist() == [0, 1, 0]
    assert ds.feature_names == ["a", "b"]
    assert ds.name == "data"


def test_label_mapping_round_trips_any_strings(tmp_path):
    rng = np.random.default_rng(0)
    vocabulary = ["b", "a", "B", "z z", "1", "10", "2", "é", "x,y", "-"]
    labels = [vocabulary[i] for i in rng.integers(0, len(vocabulary), size=60)]
    lines = ["f1,f2,label"] + [f'{i},{i * 0.5},"{lab}"' for i, lab in enumerate(labels)]
    ds = load_csv(write(tmp_path, "\n".join(lines) + "\n"), "label")
    assert ds.class_names == sorted(set(labels))
    assert [ds.class_names[k] for k in ds.y] == labels


def test_numeric_labels_sort_numerically_and_merge_spellings(tmp_path):
    path = write(tmp_path, "x,y\n0,10\n1,9\n2,2.0\n3,2\n4,10\n")
    ds = load_csv(path, "y")
    assert ds.task == "classification"
    assert ds.class_names == ["2", "9", "10"]
    assert ds.y.tolist() == [2, 1, 0, 0, 2]


def test_task_inference_rule(tmp_path):
    few = "\n".join(["x,y"] + [f"{i},{i % MAX_INFERRED_CLASSES}" for i in range(60)])
    many = "\n".join(["x,y"] + [f"{i},{i % (MAX_INFERRED_CLASSES + 1)}" for i in range(60)])
    fractional = "x,y\n1,0.5\n2,1.5\n3,0.5\n"
    assert load_csv(write(tmp_path, few, "few.csv"), "y").task == "classification"
    assert load_csv(write(tmp_path, many, "many.csv"), "y").task == "regression"
    reg = load_csv(write(tmp_path, fractional, "frac.csv"), "y")
    assert reg.task == "regression" and reg.class_names is None
    assert reg.y.dtype == np.float32 and reg.y.tolist() == [0.5, 1.5, 0.5]


def test_task_argument_overrides_inference(tmp_path):
    path = write(tmp_path, "x,y\n1,0\n2,1\n3,1\n")
    reg = load_csv(path, "y", task="regression")
    assert reg.task == "regression" and reg.y.tolist() == [0.0, 1.0, 1.0]
    cls = load_csv(write(tmp_path, "x,y\n1,0.5\n2,1.5\n3,0.5\n", "f.csv"), "y",
                   task="classification")
    assert cls.class_names == ["0.5", "1.5"] and cls.y.tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match="task"):
        load_csv(path, "y", task="clustering")


def test_target_by_index_negative_index_and_digit_string(tmp_path):
    path = write(tmp_path, "y,a,b\nu,1,2\nv,3,4\n")
    for target in (0, -3, "0", np.int64(0)):
        ds = load_csv(path, target)
        assert ds.class_names == ["u", "v"] and ds.feature_names == ["a", "b"]
    last = load_csv(write(tmp_path, "a,b,c\n1,2,5\n3,4,6\n", "n.csv"), -1)
    assert last.feature_names == ["a", "b"] and last.class_names == ["5", "6"]


def test_target_in_the_middle_keeps_feature_order(tmp_path):
    path = write(tmp_path, "a,y,b,c\n1,u,2,3\n4,v,5,6\n")
    ds = load_csv(path, "y")
    assert ds.feature_names == ["a", "b", "c"]
    np.testing.assert_array_equal(ds.X, [[1, 2, 3], [4, 5, 6]])


def test_bom_quotes_whitespace_and_blank_lines(tmp_path):
    text = '\ufeff"a" , b ,y\n\n"1",  2 , " cat "\n   \n3,4,dog\n\n'
    ds = load_csv(write(tmp_path, text), "y")
    assert ds.feature_names == ["a", "b"]
    assert ds.class_names == ["cat", "dog"]
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4]])


def test_accepts_str_path_and_result_is_json_friendly(tmp_path):
    path = write(tmp_path, "x,y\n1,a\n2,b\n")
    ds = load_csv(str(path), "y")
    json.dumps({"classes": ds.class_names, "features": ds.feature_names})


# ---------------------------------------------------------------------------------------------
# Bad files: one line each, naming the file, and the line and column where they apply

def test_missing_file(tmp_path):
    refused(tmp_path / "nope.csv", "y", "no such file")


def test_empty_file(tmp_path):
    refused(write(tmp_path, ""), "y", "empty")
    refused(write(tmp_path, "\n\n  \n", "blank.csv"), "y", "empty")


def test_header_only(tmp_path):
    refused(write(tmp_path, "a,b,y\n"), "y", "no data rows")


def test_ragged_rows(tmp_path):
    short = write(tmp_path, "a,b,y\n1,2,u\n3,v\n", "short.csv")
    refused(short, "y", "line 3", "2 fields", "3 columns")
    long = write(tmp_path, "a,b,y\n1,2,u\n3,4,v\n5,6,w,7\n", "long.csv")
    refused(long, "y", "line 4", "4 fields")


def test_non_numeric_feature_cell(tmp_path):
    path = write(tmp_path, "a,b,y\n1,2,u\n3,abc,v\n")
    message = refused(path, "y", "line 3", "column 2", "'b'", "'abc'")
    assert "numeric" in message


def test_empty_feature_cell_and_empty_target_cell(tmp_path):
    refused(write(tmp_path, "a,b,y\n1,2,u\n3,,v\n", "f.csv"), "y",
            "line 3", "column 2", "'b'", "empty cell")
    refused(write(tmp_path, "a,b,y\n1,2,u\n3,4,\n", "t.csv"), "y",
            "line 3", "column 3", "'y'", "empty cell")


@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-Infinity", "1e400"])
def test_non_finite_feature_cell(tmp_path, bad):
    path = write(tmp_path, f"a,b,y\n1,2,u\n3,4,v\n{bad},5,u\n")
    refused(path, "y", "line 4", "column 1", "'a'", "finite")


def test_non_finite_numeric_target(tmp_path):
    path = write(tmp_path, "a,y\n1,0.5\n2,inf\n3,1.5\n")
    refused(path, "y", "line 3", "column 2", "'y'", "finite")


def test_value_too_large_for_float32(tmp_path):
    refused(write(tmp_path, "a,y\n1,u\n1e39,v\n"), "y", "line 3", "column 1", "float32")


def test_line_numbers_count_blank_lines_and_multiline_quotes(tmp_path):
    text = 'a,b,y\n\n1,2,"two\nline label"\n\n3,x,v\n'
    refused(write(tmp_path, text), "y", "line 6", "column 2")


def test_missing_target_column_lists_the_columns(tmp_path):
    path = write(tmp_path, "alpha,beta,label\n1,2,u\n3,4,v\n")
    refused(path, "target", "no column named 'target'", "'alpha'", "'beta'", "'label'")
    refused(path, 7, "out of range", "3 columns")
    with pytest.raises(TypeError):
        load_csv(path, 1.5)


def test_single_class(tmp_path):
    refused(write(tmp_path, "a,y\n1,u\n2,u\n3,u\n"), "y", "single class", "'u'")
    refused(write(tmp_path, "a,y\n1,4\n2,4\n", "n.csv"), "y", "single class", "'4'")


def test_fewer_rows_than_needed(tmp_path):
    refused(write(tmp_path, "a,y\n1,u\n"), "y", "1 data row", "at least 2")
    path = write(tmp_path, "a,y\n1,u\n2,v\n3,u\n", "three.csv")
    refused(path, "y", "3 data rows", "at least 5", min_rows=5)
    assert load_csv(path, "y", min_rows=3).n_samples == 3


def test_regression_target_must_be_numeric(tmp_path):
    path = write(tmp_path, "a,y\n1,0.5\n2,high\n")
    refused(path, "y", "line 3", "column 2", "'high'", task="regression")


def test_header_problems(tmp_path):
    refused(write(tmp_path, "a,a,y\n1,2,u\n3,4,v\n"), "y", "line 1", "column 2", "duplicate")
    refused(write(tmp_path, "a,,y\n1,2,u\n3,4,v\n", "e.csv"), "y", "line 1", "column 2",
            "empty column name")
    refused(write(tmp_path, "y\nu\nv\n", "only.csv"), "y", "no feature columns")


def test_not_utf8(tmp_path):
    refused(write(tmp_path, "a,y\n1,caf\xe9\n2,u\n", encoding="latin-1"), "y", "UTF-8")


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)
