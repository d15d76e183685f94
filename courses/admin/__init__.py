"""The courses app's admin views, wired into Wagtail from courses/wagtail_hooks.py."""
