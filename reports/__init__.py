"""Scoring fits against truth: metrics, SBC, tables, figures, the HTML report and the CI gate.

Reads fit records from disk and never imports pymc or pytensor.
"""
