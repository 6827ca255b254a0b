"""The one lock around every call into PDFium.

PDFium is not thread-safe: no two threads may call it at the same time, not even on different
documents (pypdfium2's documentation says so, and it segfaults when they do). Beacon calls it
from several threads of one process: an ingest reads a PDF's characters while the web UI's
worker threads render cited pages for the viewer. Every PDFium call — opening, reading,
rendering and closing a document — runs while holding `PDFIUM`, and closes what it opened
before letting go, so that no garbage collector finalizer calls PDFium later from another thread.
"""

from __future__ import annotations

import threading

PDFIUM = threading.RLock()
