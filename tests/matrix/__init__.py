"""The version matrix: our suite and the stock Nginx plugin's own tests, per Certbot release.

Run it with ``./dev matrix`` (``python -m tests.matrix``); see README's "Supported Certbot
versions".
"""
