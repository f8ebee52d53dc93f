"""The retrieval model: two towers trained on behaviour and item text, sized for 2 CPU cores.

- ``text_tower``: item/query encoder = MiniLM (all-MiniLM-L6-v2, local path) -> mean pooling ->
  linear projection to ``dim`` -> L2 norm. Partial fine-tuning: embeddings and lower layers frozen,
  their states for every item cached once; only the top ``text.train_layers`` layers + projection
  learn (``text_finetune``: co-purchase InfoNCE with logQ, tail-item text augmentation).
- ``item_table``: catalogue vectors = normalize(text vector + learned id residual); the residual
  exists only for items with training purchases, so new items use the ONNX text vector as is.
- ``user_tower``: small transformer + recency-weighted mean over the last T events (item vector,
  event type, age in days) -> L2-normalised user vector.
- ``examples`` / ``retrieval_fit`` / ``sampled_softmax``: sliding-window next-new-purchase targets,
  histories encoded once per cut, mixed (in-batch + uniform) negatives with logQ correction and a
  temperature; best epoch on the validation weeks, then a short refit on all train weeks.
- ``train_run``: the whole run (``fulcrum train``), a short orchestrator of the named steps in
  ``steps/``; ``run_layout``: the run folder's files; ``holdout``/``recommender``: evaluation.
"""
