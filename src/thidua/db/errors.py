from thidua.errors import ThiduaError


class DatabaseUnavailable(ThiduaError):
    """The PostgreSQL server could not be reached or started."""

    code = "DATABASE_UNAVAILABLE"


class MigrationError(ThiduaError):
    """The migrations on disk and the ones applied to the database disagree."""

    code = "MIGRATION_REFUSED"
