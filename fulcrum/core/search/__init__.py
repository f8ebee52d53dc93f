"""Product search shared by serving and offline evaluation: text analysis, the lexical (BM25)
index, spelling correction, score fusion and the one scoring function both sides call."""
