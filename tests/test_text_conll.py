"""The CoNLL reader: sentences, -DOCSTART-, last lines, and errors naming file and line."""

from pathlib import Path

import pytest

from deltagrad.data.errors import DataError
from deltagrad.text import ConllError, Sentence, read_conll

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "conll2003"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared data folder "
                                "../shared/data/conll2003 is absent")


def write(tmp_path, text: str, name: str = "x.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_sentences_skipping_docstart_and_extra_blank_lines(tmp_path):
    path = write(tmp_path, "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n"
                           "\n\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\n"
                           "-DOCSTART- -X- -X- O\n\nHi UH O O\n")
    assert read_conll(path) == [
        Sentence(["EU", "rejects"], ["B-ORG", "O"]),
        Sentence(["Peter", "Blackburn"], ["B-PER", "I-PER"]),
        Sentence(["Hi"], ["O"]),
    ]


def test_last_sentence_without_trailing_newline_and_tabs(tmp_path):
    path = write(tmp_path, "a\tO\nb\tB-LOC")
    assert read_conll(path) == [Sentence(["a", "b"], ["O", "B-LOC"])]


def test_tag_column_can_be_chosen(tmp_path):
    path = write(tmp_path, "EU NNP B-ORG\nrejects VBZ O\n")
    assert read_conll(path, tag_column=1, scheme=None)[0].tags == ["NNP", "VBZ"]


def test_a_line_with_too_few_columns_names_file_and_line(tmp_path):
    path = write(tmp_path, "EU NNP B-ORG\nrejects VBZ O\n\nbroken\n")
    with pytest.raises(ConllError, match=r"x\.txt:4: expected 3 columns as on the first "
                                         r"token line, got 1: 'broken'"):
        read_conll(path)


def test_a_single_column_first_line_is_refused(tmp_path):
    with pytest.raises(ConllError, match=r"x\.txt:3: expected a word and a tag"):
        read_conll(write(tmp_path, "-DOCSTART- O\n\nlonely\n"))


def test_a_tag_outside_the_scheme_names_file_and_line(tmp_path):
    path = write(tmp_path, "EU B-ORG\nrejects O\nParis LOC\n")
    with pytest.raises(ConllError, match=r"x\.txt:3: tag 'LOC' is not a BIO tag"):
        read_conll(path)
    # BIOES files need scheme="bioes"; any tag set with scheme=None
    bioes = write(tmp_path, "EU S-ORG\n", "y.txt")
    with pytest.raises(ConllError, match=r"y\.txt:1: tag 'S-ORG'"):
        read_conll(bioes)
    assert read_conll(bioes, scheme="bioes")[0].tags == ["S-ORG"]
    assert read_conll(path, scheme=None)[0].tags == ["B-ORG", "O", "LOC"]


def test_errors_are_data_errors_and_value_errors(tmp_path):
    path = write(tmp_path, "a O\nb c O\n")
    with pytest.raises(DataError):
        read_conll(path)
    with pytest.raises(ValueError, match=r"x\.txt:2"):
        read_conll(path)


def test_bad_arguments_and_files(tmp_path):
    with pytest.raises(ValueError, match="scheme"):
        read_conll(write(tmp_path, "a O\n"), scheme="iob9")
    with pytest.raises(ConllError, match="tag_column=5"):
        read_conll(write(tmp_path, "a O\n"), tag_column=5)
    with pytest.raises(FileNotFoundError):
        read_conll(tmp_path / "missing.txt")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9 O\n".encode("latin-1"))
    with pytest.raises(ConllError, match="not UTF-8"):
        read_conll(latin)


@needs_data
def test_first_sentences_of_the_shared_training_file(tmp_path):
    # a few hundred lines of the real file, read as the reader would read the whole
    head = (DATA / "train.txt").read_text().split("\n")[:300]
    sents = read_conll(write(tmp_path, "\n".join(head)))
    assert sents[0] == Sentence(
        ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
        ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"])
    assert sents[1] == Sentence(["Peter", "Blackburn"], ["B-PER", "I-PER"])
    # every non-blank, non-DOCSTART line became one token
    tokens = [line for line in head if line.strip() and not line.startswith("-DOCSTART-")]
    assert sum(len(s.words) for s in sents) == len(tokens)
    assert [w for s in sents for w in s.words] == [line.split()[0] for line in tokens]


@needs_data
def test_whole_splits_match_the_published_counts():
    # sentence and token counts of CoNLL-2003 English (see SOURCE.md next to the data)
    for split, n_sent, n_tok in (("train", 14041, 203621), ("valid", 3250, 51362),
                                 ("test", 3453, 46435)):
        sents = read_conll(DATA / f"{split}.txt")
        assert (len(sents), sum(len(s.words) for s in sents)) == (n_sent, n_tok)
