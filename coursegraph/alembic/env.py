from alembic import context

from coursegraph.migrations import run_env

run_env(context.config, context)
