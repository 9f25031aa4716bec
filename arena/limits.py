"""Bounds shared by config validation and the command line, in a module light enough for `arena rate`
to import without loading pydantic and the config models."""

MAX_BOOTSTRAP = 100_000  # 1000 rounds is the usual; beyond this a fit runs for hours and narrows nothing
