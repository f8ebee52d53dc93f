"""Reference recommenders every model is compared against: popularity, item-kNN, ALS."""
