"""Interchange with other tools: import and export FastChat MT-bench, arena-hard-auto, AlpacaEval, evalscope
and Chatbot Arena files, and leaderboards in each tool's own convention."""
