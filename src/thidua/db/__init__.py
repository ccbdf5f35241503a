"""The database: where PostgreSQL is (embedded or DATABASE_URL), migrations, connections."""
