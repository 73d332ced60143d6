"""plano: an LLM routing gateway. Importing it starts nothing."""

__version__ = "0.1.0"
