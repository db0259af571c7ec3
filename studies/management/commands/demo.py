from django.conf import settings
from django.core.management.base import BaseCommand

from studies.demo import demo_study_ensure


class Command(BaseCommand):
    help = "Create the demo study from the XSTest fixtures (idempotent) and print its links."

    def handle(self, *args, **options) -> None:
        result = demo_study_ensure()
        verb = "Created" if result.created else "Found"
        self.stdout.write(
            f"{verb} demo study '{result.study.slug}': {result.prompts} prompts, "
            f"{result.responses} responses, {result.items} items."
        )
        self.stdout.write(f"Annotator link: {settings.SITE_URL}/s/{result.study.slug}/")
        self.stdout.write(f"Admin:          {settings.SITE_URL}/admin/")
