"""Retrieval: embed text with multilingual USE v3, index it in Qdrant, and rank passages."""
