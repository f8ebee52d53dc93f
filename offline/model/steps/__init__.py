"""The named steps of one training run, in the order ``offline.model.train_run`` calls them.

- ``data``: load the train split, the validation cut and the masks every later step uses.
- ``text``: the text stage (tokenize, cache the frozen lower BERT layers, fine-tune the top,
  pool), reused from a caller's cache when the text settings match.
- ``towers``: training examples, item table (+ co-occurrence init) and user tower; the fit on
  the examples with validation, the refit on all of train, the final item vectors.
- ``hybrid``: the hybrid score's weights chosen on validation and its parts over all of train.
- ``selfcheck``: metrics on the test split (reported, never used for a choice).
- ``ranker``: the ranking head on the fitted two towers.
- ``save``: the run folder's files (``offline.model.run_layout``).
- ``info``: run.json's content and the words for what each optional stage did.

Each step takes what earlier steps returned (small frozen dataclasses) and returns its own;
none keeps state between runs.
"""
