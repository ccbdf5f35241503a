"""thidua: an event-sourced backend for Vietnam's emulation clusters (Cụm thi đua)."""

__version__ = "0.1.0"
