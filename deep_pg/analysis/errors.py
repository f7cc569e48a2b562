"""The one error type the analysis raises for bad input, so the report can print it in one line."""


class AnalysisError(Exception):
    """Bad input to the analysis (no runs, unreadable source, missing credentials, bad option)."""
