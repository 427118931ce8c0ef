"""certbot-cleanenv: Certbot's Nginx plugin, with nginx child processes run in a clean environment."""

__version__ = "0.1.0"
