"""Measuring the oversight: suites, the eval runner, the promotion gate, calibration and trade-offs.

Entry points: runner.evaluate (-> result.EvalResult), gate.gate, tradeoff.escalation_tradeoff /
threshold_for_budget, stats.wilson, escalation.escalation_quality, compare.compare_table.
"""
