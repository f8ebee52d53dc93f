"""The ranking head: purchase propensity and cancellation risk for (user, candidate item) rows.

Cancellation is the rare outcome (about 1.7 % of purchase lines), so the head comes with a menu
of imbalance methods, one concept per file, chosen by ``RankerConfig.method``:

- ``losses/``: plain cross-entropy (the control), class-balanced weights, focal, logit adjustment;
- ``undersample.py``: negative undersampling plus the exact probability correction;
- ``resample.py``: imbalanced-learn resampling of the head's input vectors;
- ``gan_oversampler.py``: a small GAN that synthesises minority input vectors.

``labels.py`` defines the rows and labels, ``history.py`` builds point-in-time features with the
one shared ``fulcrum.core.rank_features`` function, ``train.py`` fits the head and its
calibration, ``ablation.py`` compares every method with the control.
"""
