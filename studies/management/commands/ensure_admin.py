import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create a superuser 'admin' when no superuser exists. The password comes from "
        "ADMIN_PASSWORD, or is generated and printed once."
    )

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("Admin account exists; leaving it alone.")
            return
        password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        username = os.environ.get("ADMIN_USERNAME", "admin")
        User.objects.create_superuser(username=username, email="", password=password)
        shown = "from ADMIN_PASSWORD" if os.environ.get("ADMIN_PASSWORD") else password
        self.stdout.write(f"Created admin account '{username}' with password: {shown}")
        if not os.environ.get("ADMIN_PASSWORD"):
            self.stdout.write("(Printed once; set ADMIN_PASSWORD to choose your own.)")
