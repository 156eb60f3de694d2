"""Benchmarks and reliability drivers: speed, memory, load and fault figures printed by ``policybot bench``.

Takes in the settings and a corpus; gives out tables of measured figures. No runtime module imports it.
Read ``run`` first, then ``parts``.
"""
