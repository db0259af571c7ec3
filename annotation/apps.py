from django.apps import AppConfig
from django.core.management import call_command
from django.db.models.signals import post_migrate


def create_cache_table(*, using: str = "default", **kwargs) -> None:
    """`migrate` also creates the database cache table (rate-limit counters), the way
    contrib.auth creates permissions: every deployment runs migrate, and the command is
    idempotent and does nothing for other cache backends."""
    call_command("createcachetable", database=using, verbosity=0)


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "Annotation"

    def ready(self) -> None:
        post_migrate.connect(create_cache_table, sender=self)
