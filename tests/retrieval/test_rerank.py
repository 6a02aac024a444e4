"""The optional CrossEncoder reranker: loading a local model, scoring, reordering, and its place in the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.base.errors import ConfigError
from qa.base.records import Hit, Passage, Scores
from qa.base.settings import Settings
from qa.retrieval.rerank import CrossEncoderReranker, open_reranker, rerank
from qa.service.engine import Engine
from qa.service.wire import ask_response
from qa.store.embedding import SentenceEncoder
from qa.store.index import Index

WORDS = "the a march protest islamabad women rights budget minister court ruled long led who what".split()


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised two-layer BERT cross-encoder saved locally: tiny, but a real CrossEncoder folder."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder = tmp_path_factory.mktemp("reranker") / "tiny-cross-encoder"
    folder.mkdir()
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(str(folder))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(WORDS) + 5, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=128, num_labels=1,
    )  # fmt: skip
    BertForSequenceClassification(config).eval().save_pretrained(str(folder))
    return folder


def _hit(rank: int, text: str) -> Hit:
    passage = Passage(doc_id=f"d{rank}", start=0, end=len(text), text=text)
    return Hit(rank=rank, passage=passage, title=f"T{rank}", scores=Scores(dense=0.5, keyword=1.0, fused=1.0 / rank))


class Scripted:
    """A reranker that scores a text by a fixed table: checks the reordering without a model."""

    name = "scripted"

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table
        self.seen: list[str] = []

    def score(self, query: str, texts: list[str]) -> list[float]:
        self.seen.extend(texts)
        return [self.table[text.split("\n", 1)[1]] for text in texts]


def test_rerank_reorders_the_head_and_keeps_the_tail() -> None:
    hits = [_hit(1, "alpha"), _hit(2, "beta"), _hit(3, "gamma"), _hit(4, "delta")]
    scripted = Scripted({"alpha": 0.1, "beta": 0.9, "gamma": 0.5})
    out = rerank(hits, "q", scripted, depth=3)
    assert [h.passage.text for h in out] == ["beta", "gamma", "alpha", "delta"]
    assert [h.rank for h in out] == [1, 2, 3, 4]
    assert [h.scores.rerank for h in out] == [0.9, 0.5, 0.1, None]
    assert [h.scores.fused for h in out] == [0.5, 1.0 / 3, 1.0, 0.25]  # fused scores travel unchanged
    assert scripted.seen == ["T1\nalpha", "T2\nbeta", "T3\ngamma"]  # the title is scored with its passage


def test_rerank_ties_keep_fused_order() -> None:
    hits = [_hit(1, "alpha"), _hit(2, "beta")]
    assert [h.passage.text for h in rerank(hits, "q", Scripted({"alpha": 0.3, "beta": 0.3}), 5)] == ["alpha", "beta"]


def test_cross_encoder_scores_match_the_model(tiny_cross_encoder: Path) -> None:
    from sentence_transformers import CrossEncoder

    reranker = CrossEncoderReranker(str(tiny_cross_encoder))
    texts = ["women led the long march", "the court ruled", "budget"]
    got = reranker.score("who led the march", texts)
    direct = CrossEncoder(str(tiny_cross_encoder), device="cpu").predict([("who led the march", t) for t in texts])
    assert got == pytest.approx([float(x) for x in direct], abs=1e-6)
    assert len(set(got)) == 3  # a random model still separates different inputs
    assert reranker.score("anything", []) == []


def test_missing_reranker_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="QA_RERANKER"):
        open_reranker(Settings.of(reranker=str(tmp_path / "no-such-model")).search)
    assert open_reranker(Settings().search) is None


def test_engine_reranks_and_explains(
    tiny_cross_encoder: Path, seed_settings: Settings, seed_index: Index, encoder: SentenceEncoder
) -> None:
    settings = seed_settings.replace(reranker=str(tiny_cross_encoder), rerank_depth=8)
    reranker = open_reranker(settings.search)
    assert reranker is not None
    engine = Engine(settings, encoder, seed_index, reranker=reranker)
    question = "Who led the long march to Islamabad?"
    result = engine.ask(question, top_k=5)
    plain = Engine(seed_settings, encoder, seed_index).ask(question, top_k=8)
    assert len(result.hits) == 5 and [h.rank for h in result.hits] == [1, 2, 3, 4, 5]
    scores = reranker.score(question, [f"{h.title}\n{h.passage.text}" for h in plain.hits])
    expected = [plain.hits[i].passage for i in sorted(range(8), key=lambda i: (-scores[i], i))[:5]]
    assert [h.passage for h in result.hits] == expected
    assert all(h.scores.rerank is not None for h in result.hits)
    body = ask_response(result, explain=engine.explain())
    assert body.explain is not None and body.explain.reranker == str(tiny_cross_encoder)
    assert body.passages[0].scores is not None and body.passages[0].scores.rerank == pytest.approx(
        result.hits[0].scores.rerank, abs=1e-4
    )


def test_engine_open_uses_qa_reranker(
    tiny_cross_encoder: Path, seed_settings: Settings, seed_index: Index, encoder: SentenceEncoder
) -> None:
    env = {
        "QA_CORPUS_DIR": str(seed_settings.build.corpus_dir),
        "QA_INDEX_DIR": str(seed_settings.build.index_dir),
        "QA_EMBED_BACKEND": "torch",
        "QA_RERANK_DEPTH": "8",
    }
    opened = Engine.open(Settings.from_env({**env, "QA_RERANKER": str(tiny_cross_encoder)}), encoder)
    assert isinstance(opened.reranker, CrossEncoderReranker) and opened.reranker.name == str(tiny_cross_encoder)
    plain = Engine.open(Settings.from_env(env), encoder)
    assert plain.reranker is None
    question = "Who led the long march to Islamabad?"
    result, before = opened.ask(question, top_k=5), plain.ask(question, top_k=8)
    scores = opened.reranker.score(question, [f"{h.title}\n{h.passage.text}" for h in before.hits])
    expected = [before.hits[i].passage for i in sorted(range(8), key=lambda i: (-scores[i], i))[:5]]
    assert [h.passage for h in result.hits] == expected
    assert [h.scores.rerank for h in result.hits] == pytest.approx(sorted(scores, reverse=True)[:5], abs=1e-6)
    assert all(h.scores.rerank is None for h in before.hits)
