from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The staff console: the sync-health dashboard on top of admin, and the home page."""

    name = "console"
    verbose_name = "Staff console"

    def ready(self) -> None:
        from django.contrib import admin

        # The admin index opens with the sync-health summary (templates/console/admin_index.html).
        admin.site.index_template = "console/admin_index.html"
        admin.site.site_header = "klaviyo-backend"
        admin.site.site_title = "klaviyo-backend staff console"
        admin.site.index_title = "Staff console"
        # The app list on every page costs lists 300 px of their 1,400: the index and the
        # breadcrumbs lead everywhere already.
        admin.site.enable_nav_sidebar = False
