"""The Bevaka web pages: sign-up, preferences, unsubscribe, calls overview, calendars, health.

Entry point: :func:`web.app.create_app`; served by ``bevaka web`` (cli/web.py).
"""
