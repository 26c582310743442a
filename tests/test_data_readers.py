"""Corpus readers: every branch and every bad-input case, on small files in tmp_path,
then the sizes of the real corpora."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from lab.data import (
    Sentence,
    detect_format,
    read_columns,
    read_conllu,
    read_corpus,
    real_corpus,
)

CONLLU = (
    "# sent_id = 1\n"
    "# text = I'm here\n"
    "1-2\tI'm\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "1\tI\tI\tPRON\tPRP\t_\t2\tnsubj\t_\t_\n"
    "2\t'm\tbe\tAUX\tVBP\t_\t0\troot\t_\t_\n"
    "3\there\there\tADV\tRB\t_\t2\tadvmod\t_\t_\n"
    "\n"
    "# sent_id = 2\n"
    "1\tCafé\tcafé\tNOUN\tNN\t_\t0\troot\t_\t_\n"
    "1.1\tgone\tgo\tVERB\tVBN\t_\t_\t_\t0:root\t_\n"
    "2\t!\t!\tPUNCT\t.\t_\t1\tpunct\t_\t_\n"
)
EXPECTED_UPOS = [
    Sentence(("I", "'m", "here"), ("PRON", "AUX", "ADV")),
    Sentence(("Café", "!"), ("NOUN", "PUNCT")),
]
COLUMNS = "@paul\tO\nsaw\tO\nParis\tB-location\n\t\nok\tO\n\n\nbye\tO\n"
EXPECTED_COLUMNS = [
    Sentence(("@paul", "saw", "Paris"), ("O", "O", "B-location")),
    Sentence(("ok",), ("O",)),
    Sentence(("bye",), ("O",)),
]


def write(tmp_path: Path, name: str, text: str | bytes, gz: bool = False) -> Path:
    data = text.encode("utf-8") if isinstance(text, str) else text
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def assert_bad(reader, path: Path, line: int, offending: str, **kwargs) -> None:
    """The reader raises ValueError naming the path, the line number and the text."""
    with pytest.raises(ValueError) as info:
        reader(path, **kwargs)
    message = str(info.value)
    assert f"{path}:{line}:" in message, message
    assert offending in message, message


# ---- CoNLL-U: branches ------------------------------------------------------------


WORD = "{id}\t{form}\t_\t{tag}\t_\t_\t_\t_\t_\t_\n"


def conllu(*lines: str) -> str:
    return "".join(lines)


def test_conllu_upos_default(tmp_path):
    assert read_conllu(write(tmp_path, "a.conllu", CONLLU)) == EXPECTED_UPOS


def test_conllu_comment_lines_skipped(tmp_path):
    text = conllu("# a comment\n", "#another\n", WORD.format(id=1, form="Hi", tag="INTJ"))
    assert read_conllu(write(tmp_path, "a.conllu", text)) == [Sentence(("Hi",), ("INTJ",))]


def test_conllu_multiword_token_lines_skipped(tmp_path):
    text = conllu(
        "1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n",
        WORD.format(id=1, form="do", tag="AUX"),
        WORD.format(id=2, form="n't", tag="PART"),
    )
    got = read_conllu(write(tmp_path, "a.conllu", text))
    assert got == [Sentence(("do", "n't"), ("AUX", "PART"))]


def test_conllu_empty_nodes_skipped(tmp_path):
    text = conllu(
        WORD.format(id=1, form="ran", tag="VERB"),
        WORD.format(id="1.1", form="ran", tag="VERB"),
        WORD.format(id=2, form="!", tag="PUNCT"),
    )
    got = read_conllu(write(tmp_path, "a.conllu", text))
    assert got == [Sentence(("ran", "!"), ("VERB", "PUNCT"))]


def test_conllu_last_sentence_without_trailing_blank_line(tmp_path):
    text = conllu(WORD.format(id=1, form="a", tag="X"), "\n", WORD.format(id=1, form="b", tag="Y"))
    assert not text.endswith("\n\n")
    got = read_conllu(write(tmp_path, "a.conllu", text.rstrip("\n")))  # not even a newline
    assert got == [Sentence(("a",), ("X",)), Sentence(("b",), ("Y",))]


def test_conllu_utf8_tokens(tmp_path):
    text = WORD.format(id=1, form="Café", tag="NOUN") + WORD.format(id=2, form="😀", tag="SYM")
    assert read_conllu(write(tmp_path, "a.conllu", text))[0].tokens == ("Café", "😀")


def test_conllu_xpos_column(tmp_path):
    got = read_conllu(write(tmp_path, "a.conllu", CONLLU), tag_column="xpos")
    assert [s.tags for s in got] == [("PRP", "VBP", "RB"), ("NN", ".")]


def test_conllu_trailing_blank_lines_add_nothing(tmp_path):
    assert read_conllu(write(tmp_path, "a.conllu", CONLLU + "\n\n\n")) == EXPECTED_UPOS


def test_conllu_gzip_is_read_transparently(tmp_path):
    assert read_conllu(write(tmp_path, "a.conllu.gz", CONLLU, gz=True)) == EXPECTED_UPOS


def test_conllu_crlf_line_ends(tmp_path):
    assert read_conllu(write(tmp_path, "a.conllu", CONLLU.replace("\n", "\r\n"))) == EXPECTED_UPOS


def test_conllu_byte_order_mark_is_dropped(tmp_path):
    assert read_conllu(write(tmp_path, "a.conllu", "\ufeff" + CONLLU)) == EXPECTED_UPOS


def test_conllu_whitespace_only_line_ends_a_sentence(tmp_path):
    text = CONLLU.replace("\n\n# sent_id = 2", "\n \t \n# sent_id = 2")
    assert read_conllu(write(tmp_path, "a.conllu", text)) == EXPECTED_UPOS


def test_conllu_unknown_tag_column_name(tmp_path):
    with pytest.raises(ValueError, match="tag_column must be one of"):
        read_conllu(write(tmp_path, "a.conllu", CONLLU), tag_column="deprel")


# ---- CoNLL-U: bad input --------------------------------------------------------------


def test_conllu_wrong_number_of_columns(tmp_path):
    text = CONLLU.replace("3\there\there\tADV\tRB\t_\t2\tadvmod\t_\t_", "3\there\tADV")
    assert_bad(read_conllu, write(tmp_path, "a.conllu", text), 6, "3\\there\\tADV")


def test_conllu_space_separated_line_is_wrong_number_of_columns(tmp_path):
    text = CONLLU.replace("2\t!\t!\tPUNCT", "2 ! ! PUNCT")
    assert_bad(read_conllu, write(tmp_path, "a.conllu", text), 11, "2 ! ! PUNCT")


def test_conllu_non_integer_token_id(tmp_path):
    text = CONLLU.replace("2\t'm\tbe", "two\t'm\tbe")
    assert_bad(read_conllu, write(tmp_path, "a.conllu", text), 5, "'two'")


def test_conllu_token_ids_out_of_sequence(tmp_path):
    text = CONLLU.replace("3\there\there", "4\there\there")
    assert_bad(read_conllu, write(tmp_path, "a.conllu", text), 6, "expected token id 3")


def test_conllu_empty_tag_underscore(tmp_path):
    text = CONLLU.replace("\tADV\t", "\t_\t")
    assert_bad(read_conllu, write(tmp_path, "a.conllu", text), 6, "empty upos tag")


def test_conllu_empty_tag_string(tmp_path):
    text = CONLLU.replace("\tADV\tRB\t", "\tADV\t\t")
    assert_bad(
        read_conllu, write(tmp_path, "a.conllu", text), 6, "empty xpos tag", tag_column="xpos"
    )


def test_conllu_empty_token(tmp_path):
    text = CONLLU.replace("3\there\t", "3\t\t")
    assert_bad(read_conllu, write(tmp_path, "a.conllu", text), 6, "empty token")


def test_conllu_sentence_with_no_word_lines(tmp_path):
    text = CONLLU.replace("\n# sent_id = 2\n", "\n# sent_id = orphan\n\n# sent_id = 2\n")
    assert_bad(read_conllu, write(tmp_path, "a.conllu", text), 8, "has no word lines")


def test_conllu_sentence_of_only_multiword_lines(tmp_path):
    text = "1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n\n" + CONLLU
    assert_bad(read_conllu, write(tmp_path, "a.conllu", text), 1, "has no word lines")


def test_conllu_comment_inside_sentence(tmp_path):
    text = CONLLU.replace("3\there", "# late comment\n3\there")
    assert_bad(read_conllu, write(tmp_path, "a.conllu", text), 6, "# late comment")


def test_conllu_file_without_sentences(tmp_path):
    path = write(tmp_path, "a.conllu", "# only a comment\n")
    with pytest.raises(ValueError, match="has no word lines"):
        read_conllu(path)
    path = write(tmp_path, "b.conllu", "\n\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}: no sentences")):
        read_conllu(path)


def test_conllu_undecodable_bytes(tmp_path):
    data = CONLLU.encode("utf-8").replace("Café".encode(), b"Caf\xe9")
    assert_bad(read_conllu, write(tmp_path, "a.conllu", data), 9, "Caf\\xe9")


def test_conllu_undecodable_bytes_inside_gzip(tmp_path):
    data = CONLLU.encode("utf-8").replace("Café".encode(), b"Caf\xe9")
    assert_bad(read_conllu, write(tmp_path, "a.conllu.gz", data, gz=True), 9, "Caf\\xe9")


def test_corrupt_gzip(tmp_path):
    data = gzip.compress(CONLLU.encode())[:40]  # truncated stream
    path = write(tmp_path, "a.conllu.gz", data)
    with pytest.raises(ValueError, match="corrupt gzip"):
        read_conllu(path)


# ---- Column format: branches -------------------------------------------------------


def test_columns_tab_separated(tmp_path):
    assert read_columns(write(tmp_path, "a.conll", COLUMNS)) == EXPECTED_COLUMNS


def test_columns_whitespace_only_line_ends_a_sentence(tmp_path):
    text = "a\tO\n \t \nb\tO\n\t\nc\tO\n"
    assert [s.tokens for s in read_columns(write(tmp_path, "a.conll", text))] == [
        ("a",),
        ("b",),
        ("c",),
    ]


def test_columns_consecutive_blank_lines_make_no_empty_sentence(tmp_path):
    text = "\n\na\tO\n\n\n\nb\tO\n\n\n"
    assert [s.tokens for s in read_columns(write(tmp_path, "a.conll", text))] == [("a",), ("b",)]


def test_columns_last_sentence_without_trailing_blank_line(tmp_path):
    got = read_columns(write(tmp_path, "a.conll", "a\tO\n\nb\tB-x"))  # not even a newline
    assert got == [Sentence(("a",), ("O",)), Sentence(("b",), ("B-x",))]


def test_columns_gzip(tmp_path):
    assert read_columns(write(tmp_path, "a.conll.gz", COLUMNS, gz=True)) == EXPECTED_COLUMNS


def test_columns_crlf(tmp_path):
    path = write(tmp_path, "a.conll", COLUMNS.replace("\n", "\r\n"))
    assert read_columns(path) == EXPECTED_COLUMNS


def test_columns_gzip_detected_by_content_not_name(tmp_path):
    assert read_columns(write(tmp_path, "a.conll", COLUMNS, gz=True)) == EXPECTED_COLUMNS


def test_columns_space_separated(tmp_path):
    got = read_columns(write(tmp_path, "a.txt", "EU  NNP B-ORG\nrejects VBZ O\n"))
    assert got == [Sentence(("EU", "rejects"), ("B-ORG", "O"))]


def test_columns_docstart_skipped_and_configurable_columns(tmp_path):
    text = (
        "-DOCSTART- -X- -X- O\n\n"
        "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n"
        "-DOCSTART- -X- -X- O\n"
        "Peter NNP B-NP B-PER\n"
    )
    path = write(tmp_path, "conll03.txt", text)
    assert read_columns(path) == [
        Sentence(("EU", "rejects"), ("B-ORG", "O")),
        Sentence(("Peter",), ("B-PER",)),
    ]
    assert [s.tags for s in read_columns(path, tag_column=1)] == [("NNP", "VBZ"), ("NNP",)]
    assert [s.tokens for s in read_columns(path, token_column=1, tag_column=2)][0] == ("NNP", "VBZ")


def test_columns_keep_odd_tokens(tmp_path):
    # Tokens such as "&", ";" and ones holding a zero-width space stay as they are.
    text = "&\tO\n;\tO\nwatched\u200bwas\tO\n"
    assert read_columns(write(tmp_path, "a.conll", text))[0].tokens == (
        "&",
        ";",
        "watched\u200bwas",
    )


# ---- Column format: bad input ------------------------------------------------------


def test_columns_wrong_number_of_columns(tmp_path):
    text = "a\tO\nb\tx\tO\n"
    assert_bad(read_columns, write(tmp_path, "a.conll", text), 2, "b\\tx\\tO")


def test_columns_single_column_cannot_hold_token_and_tag(tmp_path):
    assert_bad(read_columns, write(tmp_path, "a.conll", "\n\nalone\n"), 3, "'alone'")


def test_columns_tag_column_out_of_range(tmp_path):
    path = write(tmp_path, "a.conll", "a\tO\n")
    assert_bad(read_columns, path, 1, "tag_column=5", tag_column=5)


def test_columns_empty_tag(tmp_path):
    assert_bad(read_columns, write(tmp_path, "a.conll", "a\tO\nb\t\n"), 2, "empty tag")


def test_columns_empty_token(tmp_path):
    assert_bad(read_columns, write(tmp_path, "a.conll", "a\tO\n\tO\n"), 2, "empty token")


def test_columns_undecodable_bytes(tmp_path):
    assert_bad(read_columns, write(tmp_path, "a.conll", b"a\tO\n\xff\xfe\tO\n"), 2, "\\xff\\xfe")


def test_columns_file_without_sentences(tmp_path):
    path = write(tmp_path, "a.conll", "-DOCSTART- O\n\n \n")
    with pytest.raises(ValueError, match=re.escape(f"{path}: no sentences")):
        read_columns(path)


# ---- Format detection --------------------------------------------------------------


def test_read_corpus_detects_format_by_extension(tmp_path):
    assert detect_format("x/en_ewt-ud-train.conllu.gz") == "conllu"
    assert detect_format("x/a.conllu") == "conllu"
    assert detect_format("x/emerging.test.annotated.gz") == "columns"
    assert read_corpus(write(tmp_path, "a.conllu.gz", CONLLU, gz=True)) == EXPECTED_UPOS
    assert read_corpus(write(tmp_path, "b.conll", COLUMNS)) == EXPECTED_COLUMNS
    assert read_corpus(write(tmp_path, "c.txt", CONLLU), fmt="conllu", tag_column="xpos")[
        1
    ].tags == (
        "NN",
        ".",
    )


def test_read_corpus_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="fmt must be one of"):
        read_corpus(write(tmp_path, "a.conll", COLUMNS), fmt="json")


# ---- Real corpora ------------------------------------------------------------------


# ud_ewt and wnut17 are session fixtures in conftest.py (each file read once).


def test_ud_ewt_sizes(ud_ewt):
    assert {k: len(v) for k, v in ud_ewt.items()} == {"train": 12544, "dev": 2001, "test": 2077}
    assert sum(len(s) for s in ud_ewt["train"]) == 204577
    assert len({t for s in ud_ewt["train"] for t in s.tags}) == 17


def test_wnut17_sizes(wnut17):
    assert {k: len(v) for k, v in wnut17.items()} == {"train": 3394, "dev": 1009, "test": 1287}
    tags = {t for s in wnut17["train"] for t in s.tags}
    assert len(tags) == 13 and "O" in tags and "B-location" in tags


def test_real_corpus_paths_and_errors(shared_data, monkeypatch, tmp_path):
    paths = real_corpus("ud_ewt")
    assert set(paths) == {"train", "dev", "test"}
    assert all(p.is_file() and p.is_relative_to(shared_data) for p in paths.values())
    with pytest.raises(ValueError, match="expected one of"):
        real_corpus("penn_treebank")
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "wnut17"))):
        real_corpus("wnut17")
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="LAB_DATA_DIR"):
        real_corpus("wnut17")


def test_undecodable_bytes_far_into_a_long_line_are_shown(tmp_path):
    data = b"a\tO\n" + b"x" * 500 + b"\xc3\x28\tO\n"
    assert_bad(read_columns, write(tmp_path, "a.conll", data), 2, "xx\\xc3(\\tO")


# ---- Format by content, directories, line numbers -----------------------------------


@pytest.mark.parametrize("name", ["a.txt", "a.conll", "a.tsv.gz"])
def test_conllu_content_by_any_name_is_read_as_conllu(tmp_path, name):
    # read as columns, the tokens would be the ID column and the tags MISC ("_")
    path = write(tmp_path, name, CONLLU, gz=name.endswith(".gz"))
    assert detect_format(path) == "conllu"
    assert read_corpus(path) == EXPECTED_UPOS


def test_column_file_is_not_mistaken_for_conllu(tmp_path):
    path = write(tmp_path, "a.txt", "# hash\tO\n" + COLUMNS)  # a '#' token, not a comment
    assert detect_format(path) == "columns"
    assert read_corpus(path)[0].tokens == ("# hash", "@paul", "saw", "Paris")


def test_conllu_read_as_columns_hints_at_the_format(tmp_path):
    # explicit --format columns on CoNLL-U with comments: the error says what it looks like
    path = write(tmp_path, "a.txt", CONLLU)
    with pytest.raises(ValueError, match="looks like CoNLL-U: use --format conllu"):
        read_corpus(path, fmt="columns")


def test_a_directory_is_refused_in_one_line(tmp_path):
    with pytest.raises(IsADirectoryError, match=f"{tmp_path} is a directory; expected a corpus"):
        read_corpus(tmp_path)


def test_columns_byte_order_mark_is_dropped(tmp_path):
    path = write(tmp_path, "a.conll", "\ufeff" + COLUMNS)
    assert read_columns(path) == EXPECTED_COLUMNS


def test_zero_byte_file_has_no_sentences(tmp_path):
    for name in ("a.conll", "a.conllu"):
        path = write(tmp_path, name, b"")
        with pytest.raises(ValueError, match=re.escape(f"{path}: no sentences")):
            read_corpus(path)


def test_token_lines_give_each_tokens_line(tmp_path):
    from lab.data.readers import token_lines

    assert token_lines(write(tmp_path, "a.conllu", CONLLU)) == [[4, 5, 6], [9, 11]]
    assert token_lines(write(tmp_path, "b.conll", COLUMNS)) == [[1, 2, 3], [5], [8]]
