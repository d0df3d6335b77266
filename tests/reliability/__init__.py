"""Reliability and security, proved: fuzzing, crash-restart, fault injection, abuse and secrets.

The tests here run in the normal suite at a small scale; `python -m tests.reliability.long_run`
(`make reliability`) runs the same checks at full scale and writes the figures into
docs/reliability.md.
"""
