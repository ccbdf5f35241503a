"""The thidua command."""
