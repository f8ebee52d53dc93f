"""Learning the query side of Search from a shop's search log (`fulcrum learn-search-log`)."""
