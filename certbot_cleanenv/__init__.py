"""certbot-cleanenv: Certbot's Nginx plugin, running nginx children in a clean environment."""

__version__ = "0.1.0"
