"""`convpipe bench`: figures for the input pipeline, start-up overhead, inference and scale, from one run.

Each section is a function returning plain figures; the CLI prints them and writes reports/bench.json.
"""
