"""Storage: the embedding/token cache, the keyword (BM25) index and the vector store."""
