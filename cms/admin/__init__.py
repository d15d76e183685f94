"""The cms app's admin views, wired into Wagtail from cms/wagtail_hooks.py."""
