"""The candidate ordering `fulcrum serve` ships with, shared by both sides.

``online/config.py`` takes its ``ranking_mode``, ``blend_weight``, ``cancel_risk_weight``,
``tail_boost`` and ``diversity`` defaults from here; the offline bundle report, the retrain judge
and bench quality (offline/report/serving_order.py, offline/eval/bundle_rows.py) evaluate the
same order without importing online/.

Where the numbers come from (issue 11, item 6: choose on validation only):

- ``RANKING_MODE``, ``TAIL_BOOST`` and ``DIVERSITY`` were chosen on the VALIDATION slice of Online
  Retail, never on its test: the OR-temporal time split (``fulcrum data prepare --source
  online-retail --split time``: test from 2011-11-09, validation = the 14 days before it, 624 warm
  users) -> ``fulcrum data validation-view`` (train before 2011-10-26) -> ``fulcrum train`` on that
  view (a validation bundle: out of sample on the slice by construction and by the guard) ->
  ``fulcrum choose-serving --data DIR --bundle VALBUNDLE`` with the rule of
  offline/report/serving_choice.py (the mode with the best plain-order validation NDCG@10, then
  that mode's most-tail point within a 5 % NDCG@10 loss). Validation NDCG@10 of the plain orders:
  retrieval 0.1115, blend 0.1000, ranker 0.0621; chosen point retrieval, tail boost 0.2, MMR 0.4:
  NDCG@10 0.1095 (-1.8 %), tail share@10 0.167 -> 0.350, coverage@10 0.168 -> 0.187.
  (The old values, retrieval / 0.0 / 0.2, had been picked on the test sweep.)
- ``BLEND_WEIGHT`` and ``CANCEL_RISK_WEIGHT`` are not chosen by it: the blend weight only matters in
  ``blend`` mode, and cancellation risk is off unless a shop asks for it.
- These are the fallback a server starts with when its config names nothing: one shop's choice.
  Another shop (or another model of the same shop) should run the same three commands on its own
  data and serve with the ``serving.yaml`` that ``fulcrum choose-serving`` writes:
  ``fulcrum serve --config serving.yaml`` applies it over these defaults (the config always wins).
  docs/serving.md gives the commands.
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
TAIL_BOOST = 0.2
#: MMR weight of the re-rank (0 = relevance only)
DIVERSITY = 0.4
