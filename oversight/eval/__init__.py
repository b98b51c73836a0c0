"""Measuring the oversight: verdict metrics, calibration, reliability diagrams."""
