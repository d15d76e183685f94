from django.core.management.base import BaseCommand, CommandError

from outreach import reference_data


class Command(BaseCommand):
    help = ("Load the reference data: population by ward × age band × year, internet-usage rates, KPI targets. "
            "Without options, the shipped defaults (data/reference/, Kawasaki); with options, only the files given. "
            "An upsert: running it again changes nothing. All files or none are loaded.")

    def add_arguments(self, parser):
        parser.add_argument("--population", metavar="FILE", help="CSV or XLSX: year, ward, age band, population")
        parser.add_argument("--usage", metavar="FILE", help="CSV or XLSX: year, source, age band, usage rate (%%)")
        parser.add_argument("--kpi", metavar="FILE", help="CSV or XLSX: fiscal year, indicator, target")

    def handle(self, *args, **options):
        files = {kind: options[kind] for kind in reference_data.KINDS if options.get(kind)}
        try:
            reports = reference_data.load_defaults(files=files or None)
        except reference_data.ReferenceDataError as error:
            raise CommandError("Nothing was loaded:\n" + "\n".join(error.messages)) from error
        for kind, report in reports.items():
            self.stdout.write(self.style.SUCCESS(
                f"{kind}: {report.total} rows, {report.new} new, {report.updated} changed, "
                f"{report.unchanged} unchanged."))
