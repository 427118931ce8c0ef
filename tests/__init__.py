"""Tests for certbot-cleanenv (a package so the fixtures and the demo can be imported)."""
