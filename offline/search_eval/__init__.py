"""`fulcrum evaluate-search`: judged-query evaluation of Search against BM25 and zero-shot MiniLM."""
