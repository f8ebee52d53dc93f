"""The candidate ordering `fulcrum serve` ships with, shared by both sides.

``online/config.py`` takes its ``ranking_mode``, ``blend_weight``, ``cancel_risk_weight``,
``tail_boost`` and ``diversity`` defaults from here; the offline bundle report, the retrain judge
and bench quality (offline/report/serving_order.py, offline/eval/bundle_rows.py) evaluate the
same order without importing online/.

Where the numbers come from (issue 11, item 6: choose on validation only):

- The built-in values below are the fallback a server starts with when its config names nothing.
  ``RANKING_MODE``, ``TAIL_BOOST`` and ``DIVERSITY`` were picked on an Online Retail *test* sweep
  before the validation procedure existed, so they are NOT a validated choice for any shop.
- The validated choice is per shop and per model, made on the validation slice only
  (offline/report/serving_choice.py): ``fulcrum data validation-view`` -> ``fulcrum train`` on it
  (a validation bundle, out of sample on the slice by construction and by the guard) ->
  ``fulcrum choose-serving``, which writes ``serving.yaml``; ``fulcrum serve --config serving.yaml``
  applies it over these defaults (the config always wins). docs/serving.md gives the commands.
- The test sweep of ``fulcrum evaluate --bundle`` stays in its report, labelled "best of grid on
  test": a picture of the trade-off, not a choice.
"""

from __future__ import annotations

from typing import Literal

#: what orders Recommend's candidates before MMR: "retrieval", "ranker" or "blend"
RANKING_MODE: Literal["retrieval", "ranker", "blend"] = "retrieval"
#: the ranking head's share in "blend"
BLEND_WEIGHT = 0.5
#: cancellation risk subtracted from the ordering score (0 = off)
CANCEL_RISK_WEIGHT = 0.0
#: lift of long-tail candidates before MMR (0 = off)
TAIL_BOOST = 0.0
#: MMR weight of the re-rank (0 = relevance only)
DIVERSITY = 0.2
