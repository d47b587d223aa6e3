"""The router's edge concerns, one module each; `pipeline.py` fixes their order."""
