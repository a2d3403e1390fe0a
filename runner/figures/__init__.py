"""Figures of runs and sweeps, drawn with matplotlib and saved as PNG files.

``python -m runner.plot <run or sweep dirs...>`` redraws and overlays runs from their
``metrics.jsonl`` (:mod:`runner.plot`). Matplotlib is imported only when a figure
is drawn, and only its object-oriented API is used: pyplot, and with it any window, never is.
"""
