"""mlvc: git-like version control for data and models."""

__version__ = "0.1.0"
