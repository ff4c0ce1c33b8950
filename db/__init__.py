"""Everything that speaks SQL: the pool, migrations, queries, demo data."""
