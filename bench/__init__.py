"""`make bench`: load tests of notes-api against PostgreSQL, with a reference app to compare.

Run `python -m bench --help`. Nothing here is imported by the service or its tests
(but for a smoke test that the modules import and parse their arguments).
"""
