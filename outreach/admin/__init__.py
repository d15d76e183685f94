"""The outreach app's admin views, wired into Wagtail from outreach/wagtail_hooks.py."""
