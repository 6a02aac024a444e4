"""Reading a corpus folder: seeds, Markdown, HTML, JSON Lines, and every way a corpus can be wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SEEDS

from qa.base.errors import CorpusError, QAError
from qa.store.corpus import corpus_files, corpus_hash, fallback_title, load_corpus, load_file, read_corpus, unusable


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_seeds_load_as_five_documents_byte_identical() -> None:
    docs = load_corpus(SEEDS)
    files = sorted(SEEDS.glob("*.txt"))
    assert len(docs) == 5
    assert [d.id for d in docs] == [p.stem for p in files]
    for doc, path in zip(docs, files, strict=True):
        assert doc.text == path.read_text(encoding="utf-8")
        assert doc.text.encode("utf-8") == path.read_bytes()
        assert doc.origin == str(path)
        assert doc.title
    by_id = {d.id: d for d in docs}
    assert by_id["000_f8c65552ac3faefe"].title.startswith("Balochistan: a long tale of oppression")
    seed2 = by_id["002_f87bb952200a9f3a"]
    assert (seed2.author, seed2.date) == ("Dr. Zayar", "2023-12-11")
    assert seed2.title.startswith("Mass protests continue in Pakistan's Balochistan")


def test_article_without_headline_gets_its_first_words_as_title() -> None:
    doc = next(d for d in load_corpus(SEEDS) if d.id.startswith("001"))
    assert doc.title.startswith("The mass mobilisations that erupted across Balochistan")
    assert doc.title.endswith("…") and len(doc.title) <= 81


def test_fallback_title() -> None:
    assert fallback_title("  short   text \n", "x") == "short text"
    assert fallback_title("   ", "doc-id") == "doc-id"
    long = fallback_title("word " * 100, "x")
    assert long.endswith("…") and not long.endswith(" …") and len(long) <= 81


def test_markdown_file(tmp_path: Path) -> None:
    text = "# Otters return\n\n**By Jane Roe**\n\n5 May 2019\n\nThe otters returned to the harbour in spring.\n"
    path = write(tmp_path, "otters.md", text)
    (doc,) = load_file(path)
    assert doc.id == "otters"
    assert doc.text == text
    assert (doc.title, doc.author, doc.date) == ("Otters return", "Jane Roe", "2019-05-05")


def test_crlf_and_bom_are_normalised(tmp_path: Path) -> None:
    path = tmp_path / "win.txt"
    path.write_bytes("\ufeffHeadline here\r\n\r\nFirst line of the body.\r\n".encode())
    (doc,) = load_file(path)
    assert doc.text == "Headline here\n\nFirst line of the body.\n"
    assert doc.title == "Headline here"


HTML = """<!doctype html>
<html><head>
<meta charset="utf-8">
<title>Example News | Otters return to the harbour</title>
<meta name="author" content="Jane Roe">
<meta property="article:published_time" content="2019-05-05T08:00:00Z">
<style>p { color: red; }</style>
<script>var tracking = "do not index me";</script>
</head>
<body>
<header><a href="/">Example News</a></header>
<nav><a href="/">Home</a> <a href="/about">About us</a></nav>
<article>
<h1>Otters <em>return</em> to the harbour</h1>
<p>The otters returned to the harbour in spring &amp; stayed.</p>
<p>Fishermen said they had not seen them<br>for twenty years.</p>
<figure><img src="otter.jpg"><figcaption>An otter / Photo: agency</figcaption></figure>
</article>
<aside>Read more stories</aside>
<footer>Copyright 2019 Example News. All rights reserved.</footer>
</body></html>
"""


def test_html_visible_text_metadata_and_headline(tmp_path: Path) -> None:
    (doc,) = load_file(write(tmp_path, "otters.html", HTML))
    assert doc.id == "otters"
    assert doc.title == "Otters return to the harbour", "the <h1>, inline tags included"
    assert doc.author == "Jane Roe"
    assert doc.date == "2019-05-05"
    assert "The otters returned to the harbour in spring & stayed." in doc.text
    assert "Fishermen said they had not seen them" in doc.text
    for hidden in ("tracking", "color: red", "Home", "About us", "Copyright", "Read more", "Photo: agency"):
        assert hidden not in doc.text, hidden
    assert "Example News" not in doc.text


def test_html_og_title_wins_then_h1_then_title(tmp_path: Path) -> None:
    og = HTML.replace("<title>", '<meta property="og:title" content="  The   OG headline "><title>')
    (doc,) = load_file(write(tmp_path, "og.html", og))
    assert doc.title == "The OG headline"
    no_h1 = HTML.replace("<h1>Otters <em>return</em> to the harbour</h1>", "")
    (doc,) = load_file(write(tmp_path, "noh1.htm", no_h1))
    assert doc.title == "Example News | Otters return to the harbour"


def test_html_image_inside_headline_keeps_the_headline(tmp_path: Path) -> None:
    page = (
        "<html><head><title>Site</title></head>"
        "<body><h1><img src='x.png'>Quetta <span>march</span> ends</h1><p>Body text here.</p></body></html>"
    )
    (doc,) = load_file(write(tmp_path, "img.html", page))
    assert doc.title == "Quetta march ends"


def test_html_textual_meta_date_is_parsed_not_truncated(tmp_path: Path) -> None:
    page = HTML.replace(
        '<meta property="article:published_time" content="2019-05-05T08:00:00Z">',
        '<meta name="date" content="December 11, 2023">',
    )
    (doc,) = load_file(write(tmp_path, "dated.html", page))
    assert doc.date == "2023-12-11"


def test_html_time_element_date(tmp_path: Path) -> None:
    page = "<html><body><h1>Head</h1><time datetime='2020-12-05T10:00'>Dec 5</time><p>Body text.</p></body></html>"
    (doc,) = load_file(write(tmp_path, "t.html", page))
    assert doc.date == "2020-12-05"


def test_jsonl_documents(tmp_path: Path) -> None:
    rows = [
        {"id": "a1", "title": "Otters return", "text": "The otters returned in spring.", "date": "5 May 2019"},
        {"id": 7, "text": "# Bridge reopens\n\nThe old bridge reopened on Monday.", "author": "Jane Roe"},
        {"_id": "c3", "text": "A third article.", "title": "   "},
    ]
    path = write(tmp_path, "batch.jsonl", "\n".join(json.dumps(r) for r in rows[:2]) + "\n\n" + json.dumps(rows[2]))
    docs = load_file(path)
    assert [d.id for d in docs] == ["a1", "7", "c3"]
    assert docs[0].title == "Otters return" and docs[0].date == "2019-05-05"
    assert docs[0].text == rows[0]["text"]
    assert docs[1].title == "Bridge reopens" and docs[1].author == "Jane Roe"
    assert docs[2].title == "A third article."
    assert docs[0].origin == f"{path}:1" and docs[2].origin == f"{path}:4"


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"id": "x"}', "'text'"),
        ('{"id": "", "text": "t"}', "'id'"),
        ('{"id": ["x"], "text": "t"}', "'id'"),
        ('{"id": "x", "text": 5}', "'text'"),
    ],
)
def test_jsonl_bad_line_names_file_and_line(tmp_path: Path, line: str, why: str) -> None:
    path = write(tmp_path, "bad.jsonl", '{"id": "ok", "text": "Fine."}\n' + line + "\n")
    with pytest.raises(CorpusError) as info:
        load_file(path)
    assert f"{path}:2" in str(info.value)
    assert why in str(info.value)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist") as info:
        load_corpus(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(info.value)
    assert "QA_CORPUS_DIR" in str(info.value)


def test_folder_without_articles(tmp_path: Path) -> None:
    write(tmp_path, "notes.pdf", "not an article")
    (tmp_path / "sub.txt").mkdir()
    with pytest.raises(CorpusError, match=r"has no \.txt.*files") as info:
        load_corpus(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_non_utf8_file(tmp_path: Path) -> None:
    write(tmp_path, "good.txt", "A fine article.")
    bad = tmp_path / "latin.txt"
    bad.write_bytes("Caf\u00e9 in Quetta".encode("latin-1"))
    with pytest.raises(CorpusError) as info:
        load_corpus(tmp_path)
    message = str(info.value)
    assert str(bad) in message and "UTF-8" in message and "byte 3" in message


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    write(tmp_path, "story.txt", "One version.")
    write(tmp_path, "story.md", "Another version.")
    with pytest.raises(CorpusError) as info:
        load_corpus(tmp_path)
    message = str(info.value)
    assert "'story'" in message and "story.md" in message and "story.txt" in message and "rename" in message


def test_duplicate_ids_between_jsonl_and_file(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "Plain text article.")
    write(tmp_path, "batch.jsonl", json.dumps({"id": "a", "text": "Same id."}) + "\n")
    with pytest.raises(CorpusError, match="'a' appears twice"):
        load_corpus(tmp_path)


def test_corpus_errors_are_qa_errors() -> None:
    assert issubclass(CorpusError, QAError)


def test_corpus_files_are_sorted_and_filtered(tmp_path: Path) -> None:
    for name in ("b.txt", "a.MD", "c.html", "d.jsonl", "e.csv", ".hidden.swp"):
        write(tmp_path, name, "x")
    assert [p.name for p in corpus_files(tmp_path)] == ["a.MD", "b.txt", "c.html", "d.jsonl"]


def test_corpus_hash_tracks_content_and_names(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "First article.")
    write(tmp_path, "b.txt", "Second article.")
    first = corpus_hash(tmp_path)
    assert corpus_hash(tmp_path) == first
    write(tmp_path, "a.txt", "First article!")
    changed = corpus_hash(tmp_path)
    assert changed != first
    (tmp_path / "b.txt").rename(tmp_path / "c.txt")
    assert corpus_hash(tmp_path) not in (first, changed)
    write(tmp_path, "ignored.csv", "not part of the corpus")
    renamed = corpus_hash(tmp_path)
    (tmp_path / "ignored.csv").unlink()
    assert corpus_hash(tmp_path) == renamed


# Document ids must come back at GET /documents/{id}: no path separators, no . or .., no control characters.


@pytest.mark.parametrize(
    ("doc_id", "why"),
    [
        ("a/b", "contains / or \\"),
        ("2024/05/otters", "contains / or \\"),
        ("a\\b", "contains / or \\"),
        (".", "is . or .."),
        ("..", "is . or .."),
        ("a\x1b[31mb", "control character U+001B"),
        ("line\nbreak", "control character U+000A"),
        ("nul\x00", "control character U+0000"),
        ("\ud800x", "control character U+D800"),
    ],
)
def test_jsonl_id_that_cannot_be_fetched_names_file_and_line(tmp_path: Path, doc_id: str, why: str) -> None:
    good = json.dumps({"id": "ok", "text": "Fine."})
    path = write(tmp_path, "batch.jsonl", good + "\n" + json.dumps({"id": doc_id, "text": "An article."}) + "\n")
    with pytest.raises(CorpusError) as info:
        load_corpus(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{path}:2: document id {doc_id!r} ")
    assert why in message and message.endswith("change the id")


@pytest.mark.parametrize(
    ("name", "doc_id", "why"),
    [
        ("..txt", ".", "is . or .."),
        ("...md", "..", "is . or .."),
        ("a\\b.txt", "a\\b", "contains / or \\"),
        ("\x1b[2Jclear.html", "\x1b[2Jclear", "control character U+001B"),
        ("tab\there.txt", "tab\there", "control character U+0009"),
        ("  .txt", "  ", "is empty"),
    ],
)
def test_file_name_that_makes_a_bad_id_is_refused(tmp_path: Path, name: str, doc_id: str, why: str) -> None:
    write(tmp_path, "fine.txt", "A fine article.")
    path = write(tmp_path, name, "An article with an awkward file name.")
    with pytest.raises(CorpusError) as info:
        load_corpus(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{path}: its name gives the document id {doc_id!r}, which ")
    assert why in message and message.endswith("rename the file")


def test_ids_with_dots_spaces_and_other_punctuation_are_fine(tmp_path: Path) -> None:
    rows = ["...a", "a.b", "a b", "a?b#c%d", "ڈیرہ\u200cبگٹی", "Ω"]
    write(tmp_path, "batch.jsonl", "".join(json.dumps({"id": r, "text": "Some article text."}) + "\n" for r in rows))
    write(tmp_path, ".hidden.txt", "A file whose name starts with a dot.")
    assert sorted(d.id for d in load_corpus(tmp_path)) == sorted([*rows, ".hidden"])


# Sources with no article text are skipped, each named with why.


def test_empty_and_control_character_sources_are_skipped_and_named(tmp_path: Path) -> None:
    write(tmp_path, "good.txt", "Otters return\n\nThe otters returned to the harbour in spring.\n")
    empty = write(tmp_path, "empty.txt", "")
    blank = write(tmp_path, "blank.md", "  \n\t\n\u00a0\u2003\n")
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes("A headline\n\nText saved as UTF-16 by an old editor.".encode("utf-16-le"))
    noise = write(tmp_path, "noise.txt", "ok " + "\x01\x02\x7f\x1b" * 20)
    scripts = write(tmp_path, "scripts.html", "<html><script>var x = 1;</script><nav>Home</nav></html>")
    rows = [
        {"id": "kept", "text": "Bridge reopens\n\nThe old bridge reopened on Monday."},
        {"id": "ws", "text": " \n\t "},
        {"id": "bin", "text": "\x00\x01\x02\x03 data \x04\x05\x06"},
    ]
    batch = write(tmp_path, "batch.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    corpus = read_corpus(tmp_path)
    assert sorted(d.id for d in corpus.documents) == ["good", "kept"]
    assert load_corpus(tmp_path) == corpus.documents
    reasons = dict(line.split(": ", 1) for line in corpus.skipped)
    assert set(reasons) == {str(empty), str(blank), str(utf16), str(noise), str(scripts), f"{batch}:2", f"{batch}:3"}
    for source in (empty, blank, scripts, f"{batch}:2"):
        assert reasons[str(source)] == "no text (empty or only whitespace)"
    for source in (utf16, noise, f"{batch}:3"):
        assert "control characters, not article text" in reasons[str(source)]
        assert "UTF-8" in reasons[str(source)]
    assert corpus.sha256 == corpus_hash(tmp_path)


def test_a_corpus_with_nothing_left_is_an_error_naming_what_was_skipped(tmp_path: Path) -> None:
    for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
        write(tmp_path, name, "\n")
    with pytest.raises(CorpusError, match="no article text") as info:
        read_corpus(tmp_path)
    message = str(info.value)
    assert f"{tmp_path / 'a.txt'}: no text" in message and str(tmp_path / "d.txt") not in message and "…" in message


@pytest.mark.parametrize(
    "text",
    [
        "ڈیرہ بگٹی میں احتجاج جاری ہے۔ می\u200cخواهم و نمی\u200cتوانم",  # Urdu and Persian with zero-width non-joiners
        "Families 👨\u200d👩\u200d👧 marched\u00ad together to Quetta.",  # emoji joiners and a soft hyphen
        "A page break\x0c between two paragraphs, and a stray \x00 byte in a long enough article text." * 2,
        "\u200b".join("Zero width spaces between every word of this headline".split()),
    ],
)
def test_ordinary_text_is_usable(text: str) -> None:
    assert unusable(text) is None


def test_jsonl_lone_surrogate_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "batch.jsonl", '{"id": "a", "text": "Half a pair \\ud83d here."}\n')
    with pytest.raises(CorpusError, match="lone surrogate") as info:
        load_corpus(tmp_path)
    assert str(info.value).startswith(f"{path}:1: ")
