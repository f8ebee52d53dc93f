"""Re-ranking rules: pure functions, one per file, each with hand-worked tests.

ordering (the score candidates are sorted by: retrieval, ranker or blend, minus cancellation
risk), anti_recommendation (what never to show), cold_start (popular + context for users with no
history), exploration (Thompson sampling for a share of the slots), diversity (MMR), slots
(merging exploitation and exploration lists), reasons (why an item is in a reply).
"""
