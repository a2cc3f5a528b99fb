"""The benchmark is run on demand (bench/run.py), never by pytest."""

collect_ignore_glob = ["*"]
