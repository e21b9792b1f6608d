"""Helpers shared by the tests and the benchmarks (bench/): real processes (a Celery worker,
gunicorn, the Klaviyo emulator, a private Redis) and the broker and database they share
(procs.py), and the end-to-end sync stack built of them (stack.py).

Not part of the service: it imports the emulator and the test requirements, and stays out of
the production image (.dockerignore).
"""
