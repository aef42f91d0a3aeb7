"""The scheduler's cron entries, loaded by ``manage.py run_scheduler`` only (dramatiq-crontab
imports each app's ``tasks`` module): one tick a minute; the per-source schedules are
evaluated by the tick (managed/scheduler.py)."""

from dramatiq_crontab import cron

from .actors import scheduler_tick_actor

cron("* * * * *")(scheduler_tick_actor)
