"""A LangChain retriever over the passage index (the same collection, engine and ranking).

    retriever = KnowledgeRetriever(index=index, tenant="acme", k=3)
    docs = retriever.invoke("¿Cómo activo el roaming?")

Each Document is an article's best passage (its text, or its title for a title passage) with
metadata: article_id, group, language, title, kind, campaign and score (as ``Hit.score``).
"""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .index import PassageIndex


class KnowledgeRetriever(BaseRetriever):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: PassageIndex
    tenant: str
    k: int = 5
    language: str | None = None
    campaign: str | None = None
    min_score: float = 0.0

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        documents = []
        for hit in self.index.search(query, tenant=self.tenant, k=self.k, language=self.language,
                                     campaign=self.campaign):
            if hit.score < self.min_score:
                continue
            p = hit.passage
            documents.append(Document(
                page_content=p.text or p.title,
                metadata={"article_id": p.article_id, "group": p.group, "language": p.language, "title": p.title,
                          "kind": p.kind, "campaign": p.campaign, "tenant": p.tenant, "score": hit.score},
            ))
        return documents
