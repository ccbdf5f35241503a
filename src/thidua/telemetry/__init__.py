"""Metrics, logs and traces: what an operator sees of a running instance.

Outside the layers, like `thidua.errors`: every layer may count or note something, and
this package imports nothing of the product.
"""
