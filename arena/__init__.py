"""Arena: an LLM-as-judge arena with Bradley-Terry / Elo leaderboards."""
__version__ = "0.1.0"
