"""Compiled functions and the programs they run."""
