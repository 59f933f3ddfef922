"""Cohort tables: load a real table or simulate a multi-site one, both contract-valid."""

from spinerisk.cohort.load import load, write_cohort
from spinerisk.cohort.simulator import SimulatedCohort, SiteProfile, design_terms, simulate
from spinerisk.cohort.summary import cohort_summary, summarise

__all__ = ["SimulatedCohort", "SiteProfile", "cohort_summary", "design_terms", "load",
           "simulate", "summarise", "write_cohort"]
