"""Hyper-parameter search (Optuna TPE) on the validation slice carved from train — never the test.

``space.py`` says what is searched, ``objective.py`` how a trial is scored, ``search.py`` runs
the study and returns the best configuration.
"""
