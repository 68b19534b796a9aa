"""Run folders and file safety: atomic writes with disk-space checks (``atomic``), one
process per folder or cache entry (``locks``), the run folder and its checkpoint
(``runs``), Ctrl-C and SIGTERM turned into a clean stop (``interrupts``)."""
