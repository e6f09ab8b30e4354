"""Clips in and out (PyAV), the limits a worker holds them to, and optical flow (OpenCV).

``engine.video.limits`` is pure Python, so the bot can use it; ``clip`` and ``flow`` bring
PyAV and OpenCV. The painting of a clip itself is ``engine.style.video``.
"""
