"""The training engine: plain Python + torch, no Django.

It takes image bytes and labels and returns a model bundle and honest metrics, so it runs the
same in a Celery worker, a benchmark script, a notebook or on a GPU box.
"""
