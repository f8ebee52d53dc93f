"""The candidate ordering `fulcrum serve` ships with, shared by both sides.

``online/config.py`` takes its ``ranking_mode``, ``blend_weight``, ``cancel_risk_weight``,
``tail_boost`` and ``diversity`` defaults from here; the offline bundle report, the retrain judge
and bench quality (offline/report/serving_order.py, offline/eval/bundle_rows.py) evaluate the
same order without importing online/.
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
