from django.core.management.base import BaseCommand

from provision.services import ensure_site


class Command(BaseCommand):
    help = "Create the page tree every deployment needs (home, course index, city courses, privacy page). Idempotent."

    def handle(self, *args, **options):
        site = ensure_site()
        self.stdout.write(self.style.SUCCESS(f"Site ready: {site.root_page.title}"))
