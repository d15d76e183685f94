"""The partners app's admin views, wired into Wagtail from partners/wagtail_hooks.py."""
