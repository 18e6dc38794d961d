"""Reproduction reports: the paper's claims re-run at a budget, with seeds, intervals and a verdict per claim."""
