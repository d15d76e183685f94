from django.core.management.base import BaseCommand, CommandError

from partners.services import DEFAULT_MUNICIPALITY_CSV, MunicipalityDataError, load_municipality


class Command(BaseCommand):
    help = "Load the municipality and its wards from a CSV (default: Kawasaki City, data/municipalities/)."

    def add_arguments(self, parser):
        parser.add_argument("csv", nargs="?", default=str(DEFAULT_MUNICIPALITY_CSV))

    def handle(self, *args, csv, **options):
        try:
            result = load_municipality(csv)
        except MunicipalityDataError as exc:
            raise CommandError("\n".join(exc.errors)) from exc
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"{result.municipality.name} ({result.municipality.code}): "
            f"{result.wards_created} wards created, {result.wards_updated} updated, {result.wards_removed} removed."))
